;; y[0:N] += x[0:K] · W[K, N] for row-major float32 W, on the memory of tfjs's wasm backend.
;; `gemvs` reads the first N columns of rows `stride` floats apart (the keys of an in-place KV-cache,
;; laid out [dk, capacity]); `gemv` is gemvs with stride N.
;;
;; A decode step multiplies one token's activations by each weight matrix once, so it is bound by
;; streaming W from memory. This loop reads W once, in memory order: for each row i,
;; y += x[i] · W[i, :] with 128-bit SIMD, eight columns per iteration. y stays in the L1 cache when
;; N is a few thousand, which is what makes this faster than XNNPACK (tfjs's matMul) for the
;; per-layer matrices of a decode step; for much wider W (the vocabulary projection) XNNPACK wins.
;; The products and sums are the same as XNNPACK's one-row kernel, in the same order: the results
;; agree bit for bit. Pointers are byte offsets into the imported memory; nothing is allocated.
;;
;; `gemvCols` and `bmm` take a slice [lo, hi) of their outputs last: the calls the kernel pool
;; (pool.ts) hands its threads.
;;
;; Build: `node scripts/build-wasm.mjs` assembles this file into gemv-bytes.ts beside it.
(module
  (import "env" "memory" (memory 0))

  (func (export "gemv") (param $x i32) (param $w i32) (param $y i32) (param $K i32) (param $N i32)
    (call $gemvs (local.get $x) (local.get $w) (local.get $y) (local.get $K) (local.get $N) (local.get $N)))

  (func $gemvs (export "gemvs") (param $x i32) (param $w i32) (param $y i32) (param $K i32) (param $N i32) (param $stride i32)
    (local $i i32) (local $j i32) (local $r i32) (local $p i32) (local $a f32) (local $s v128)
    (local $rowBytes i32) (local $end8 i32) (local $end4 i32) (local $end i32)
    (local.set $rowBytes (i32.shl (local.get $stride) (i32.const 2)))
    (local.set $end8 (i32.shl (i32.and (local.get $N) (i32.const -8)) (i32.const 2)))
    (local.set $end4 (i32.shl (i32.and (local.get $N) (i32.const -4)) (i32.const 2)))
    (local.set $end (i32.shl (local.get $N) (i32.const 2)))
    (local.set $r (local.get $w))
    (block $rowsDone
      (loop $rows
        (br_if $rowsDone (i32.ge_u (local.get $i) (local.get $K)))
        (local.set $a (f32.load (i32.add (local.get $x) (i32.shl (local.get $i) (i32.const 2)))))
        (local.set $s (f32x4.splat (local.get $a)))
        ;; eight columns per iteration
        (local.set $j (i32.const 0))
        (block $done8
          (loop $cols8
            (br_if $done8 (i32.ge_u (local.get $j) (local.get $end8)))
            (local.set $p (i32.add (local.get $y) (local.get $j)))
            (v128.store (local.get $p)
              (f32x4.add (v128.load (local.get $p)) (f32x4.mul (local.get $s) (v128.load (i32.add (local.get $r) (local.get $j))))))
            (v128.store offset=16 (local.get $p)
              (f32x4.add (v128.load offset=16 (local.get $p)) (f32x4.mul (local.get $s) (v128.load offset=16 (i32.add (local.get $r) (local.get $j))))))
            (local.set $j (i32.add (local.get $j) (i32.const 32)))
            (br $cols8)))
        ;; four more columns when N mod 8 ≥ 4
        (if (i32.lt_u (local.get $j) (local.get $end4))
          (then
            (local.set $p (i32.add (local.get $y) (local.get $j)))
            (v128.store (local.get $p)
              (f32x4.add (v128.load (local.get $p)) (f32x4.mul (local.get $s) (v128.load (i32.add (local.get $r) (local.get $j))))))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))))
        ;; the last N mod 4 columns one by one
        (block $done1
          (loop $cols1
            (br_if $done1 (i32.ge_u (local.get $j) (local.get $end)))
            (local.set $p (i32.add (local.get $y) (local.get $j)))
            (f32.store (local.get $p)
              (f32.add (f32.load (local.get $p)) (f32.mul (local.get $a) (f32.load (i32.add (local.get $r) (local.get $j))))))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $cols1)))
        (local.set $r (i32.add (local.get $r) (local.get $rowBytes)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rows))))

  ;; C[0:4, 0:N8] = A[0:4, 0:K] · B[K, 0:N8] for four rows of A (K floats apart) and the first N8
  ;; columns (N8 a multiple of 8) of B and C (rows N floats apart): the training attention's
  ;; batched products. Each step over k loads eight columns of B once for all four rows, and keeps
  ;; the 4 × 8 sums in registers until the end (a gemv per row would reload and store them every k).
  ;; Sums run over k in order, as a plain loop's do.
  (func $gemm4 (export "gemm4") (param $a i32) (param $b i32) (param $c i32) (param $K i32) (param $N8 i32) (param $N i32)
    (local $j i32) (local $k i32) (local $pa i32) (local $pb i32) (local $pc i32)
    (local $rowA i32) (local $rowB i32) (local $w0 v128) (local $w1 v128) (local $x v128)
    (local $s00 v128) (local $s01 v128) (local $s10 v128) (local $s11 v128)
    (local $s20 v128) (local $s21 v128) (local $s30 v128) (local $s31 v128)
    (local.set $rowA (i32.shl (local.get $K) (i32.const 2)))
    (local.set $rowB (i32.shl (local.get $N) (i32.const 2)))
    (block $colsDone
      (loop $cols
        (br_if $colsDone (i32.ge_u (local.get $j) (local.get $N8)))
        (local.set $s00 (v128.const i32x4 0 0 0 0)) (local.set $s01 (v128.const i32x4 0 0 0 0))
        (local.set $s10 (v128.const i32x4 0 0 0 0)) (local.set $s11 (v128.const i32x4 0 0 0 0))
        (local.set $s20 (v128.const i32x4 0 0 0 0)) (local.set $s21 (v128.const i32x4 0 0 0 0))
        (local.set $s30 (v128.const i32x4 0 0 0 0)) (local.set $s31 (v128.const i32x4 0 0 0 0))
        (local.set $pa (local.get $a))
        (local.set $pb (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2))))
        (local.set $k (i32.const 0))
        (block $kDone
          (loop $ks
            (br_if $kDone (i32.ge_u (local.get $k) (local.get $K)))
            (local.set $w0 (v128.load (local.get $pb)))
            (local.set $w1 (v128.load offset=16 (local.get $pb)))
            (local.set $x (v128.load32_splat (local.get $pa)))
            (local.set $s00 (f32x4.add (local.get $s00) (f32x4.mul (local.get $x) (local.get $w0))))
            (local.set $s01 (f32x4.add (local.get $s01) (f32x4.mul (local.get $x) (local.get $w1))))
            (local.set $x (v128.load32_splat (i32.add (local.get $pa) (local.get $rowA))))
            (local.set $s10 (f32x4.add (local.get $s10) (f32x4.mul (local.get $x) (local.get $w0))))
            (local.set $s11 (f32x4.add (local.get $s11) (f32x4.mul (local.get $x) (local.get $w1))))
            (local.set $x (v128.load32_splat (i32.add (local.get $pa) (i32.shl (local.get $rowA) (i32.const 1)))))
            (local.set $s20 (f32x4.add (local.get $s20) (f32x4.mul (local.get $x) (local.get $w0))))
            (local.set $s21 (f32x4.add (local.get $s21) (f32x4.mul (local.get $x) (local.get $w1))))
            (local.set $x (v128.load32_splat (i32.add (local.get $pa) (i32.mul (local.get $rowA) (i32.const 3)))))
            (local.set $s30 (f32x4.add (local.get $s30) (f32x4.mul (local.get $x) (local.get $w0))))
            (local.set $s31 (f32x4.add (local.get $s31) (f32x4.mul (local.get $x) (local.get $w1))))
            (local.set $pa (i32.add (local.get $pa) (i32.const 4)))
            (local.set $pb (i32.add (local.get $pb) (local.get $rowB)))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $ks)))
        (local.set $pc (i32.add (local.get $c) (i32.shl (local.get $j) (i32.const 2))))
        (v128.store (local.get $pc) (local.get $s00))
        (v128.store offset=16 (local.get $pc) (local.get $s01))
        (local.set $pc (i32.add (local.get $pc) (local.get $rowB)))
        (v128.store (local.get $pc) (local.get $s10))
        (v128.store offset=16 (local.get $pc) (local.get $s11))
        (local.set $pc (i32.add (local.get $pc) (local.get $rowB)))
        (v128.store (local.get $pc) (local.get $s20))
        (v128.store offset=16 (local.get $pc) (local.get $s21))
        (local.set $pc (i32.add (local.get $pc) (local.get $rowB)))
        (v128.store (local.get $pc) (local.get $s30))
        (v128.store offset=16 (local.get $pc) (local.get $s31))
        (local.set $j (i32.add (local.get $j) (i32.const 8)))
        (br $cols))))

  ;; Columns c0…c1 of y[m, :] += x[m, 0:K] · W[K, :] for m < M: rows of x K floats apart, of W
  ;; `stride` apart, of y `yStride` apart. A slice of whole columns sums every output in the same
  ;; order as the full product, so the pool (pool.ts) hands each thread one.
  (func (export "gemvCols") (param $x i32) (param $w i32) (param $y i32) (param $K i32) (param $stride i32) (param $M i32) (param $yStride i32) (param $c0 i32) (param $c1 i32)
    (local $m i32)
    (if (i32.ge_u (local.get $c0) (local.get $c1)) (then (return)))
    (block $rowsDone
      (loop $rows
        (br_if $rowsDone (i32.ge_u (local.get $m) (local.get $M)))
        (call $gemvs
          (i32.add (local.get $x) (i32.shl (i32.mul (local.get $m) (local.get $K)) (i32.const 2)))
          (i32.add (local.get $w) (i32.shl (local.get $c0) (i32.const 2)))
          (i32.add (local.get $y) (i32.shl (i32.add (i32.mul (local.get $m) (local.get $yStride)) (local.get $c0)) (i32.const 2)))
          (local.get $K) (i32.sub (local.get $c1) (local.get $c0)) (local.get $stride))
        (local.set $m (i32.add (local.get $m) (i32.const 1)))
        (br $rows))))

  ;; C[i] = A[i] · B[i] for batches i0…i1 of A [n, M, K], B [n, K, N] (bStep = K·N) or one B for
  ;; all (bStep = 0), C [n, M, N]: rows in blocks of four through gemm4, the last N mod 8 columns of
  ;; those one float32 sum at a time, then the last M mod 4 rows through gemvs; every sum runs over
  ;; k in order. A slice of whole batches is one thread's share in the pool (pool.ts).
  (func (export "bmm") (param $a i32) (param $b i32) (param $c i32) (param $M i32) (param $K i32) (param $N i32) (param $bStep i32) (param $i0 i32) (param $i1 i32)
    (local $i i32) (local $m i32) (local $r i32) (local $j i32) (local $k i32) (local $M4 i32) (local $N8 i32)
    (local $A i32) (local $B i32) (local $C i32) (local $pa i32) (local $pb i32) (local $pc i32) (local $end i32) (local $sum f32)
    (local.set $M4 (i32.and (local.get $M) (i32.const -4)))
    (local.set $N8 (i32.and (local.get $N) (i32.const -8)))
    (local.set $i (local.get $i0))
    (block $batchesDone
      (loop $batches
        (br_if $batchesDone (i32.ge_u (local.get $i) (local.get $i1)))
        (local.set $A (i32.add (local.get $a) (i32.shl (i32.mul (local.get $i) (i32.mul (local.get $M) (local.get $K))) (i32.const 2))))
        (local.set $B (i32.add (local.get $b) (i32.shl (i32.mul (local.get $i) (local.get $bStep)) (i32.const 2))))
        (local.set $C (i32.add (local.get $c) (i32.shl (i32.mul (local.get $i) (i32.mul (local.get $M) (local.get $N))) (i32.const 2))))
        (local.set $m (i32.const 0))
        (block $blocksDone
          (loop $blocks
            (br_if $blocksDone (i32.ge_u (local.get $m) (local.get $M4)))
            (if (local.get $N8)
              (then
                (call $gemm4
                  (i32.add (local.get $A) (i32.shl (i32.mul (local.get $m) (local.get $K)) (i32.const 2)))
                  (local.get $B)
                  (i32.add (local.get $C) (i32.shl (i32.mul (local.get $m) (local.get $N)) (i32.const 2)))
                  (local.get $K) (local.get $N8) (local.get $N))))
            ;; C[r, j] = Σ_k A[r, k] · B[k, j] for the last N mod 8 columns of rows m…m+3
            (local.set $r (local.get $m))
            (block $tailRowsDone
              (loop $tailRows
                (br_if $tailRowsDone (i32.ge_u (local.get $r) (i32.add (local.get $m) (i32.const 4))))
                (local.set $j (local.get $N8))
                (block $tailDone
                  (loop $tail
                    (br_if $tailDone (i32.ge_u (local.get $j) (local.get $N)))
                    (local.set $sum (f32.const 0))
                    (local.set $pa (i32.add (local.get $A) (i32.shl (i32.mul (local.get $r) (local.get $K)) (i32.const 2))))
                    (local.set $pb (i32.add (local.get $B) (i32.shl (local.get $j) (i32.const 2))))
                    (local.set $k (i32.const 0))
                    (block $kDone
                      (loop $ks
                        (br_if $kDone (i32.ge_u (local.get $k) (local.get $K)))
                        (local.set $sum (f32.add (local.get $sum) (f32.mul (f32.load (local.get $pa)) (f32.load (local.get $pb)))))
                        (local.set $pa (i32.add (local.get $pa) (i32.const 4)))
                        (local.set $pb (i32.add (local.get $pb) (i32.shl (local.get $N) (i32.const 2))))
                        (local.set $k (i32.add (local.get $k) (i32.const 1)))
                        (br $ks)))
                    (f32.store (i32.add (local.get $C) (i32.shl (i32.add (i32.mul (local.get $r) (local.get $N)) (local.get $j)) (i32.const 2))) (local.get $sum))
                    (local.set $j (i32.add (local.get $j) (i32.const 1)))
                    (br $tail)))
                (local.set $r (i32.add (local.get $r) (i32.const 1)))
                (br $tailRows)))
            (local.set $m (i32.add (local.get $m) (i32.const 4)))
            (br $blocks)))
        ;; the last M mod 4 rows: C[m] = 0, then C[m] += A[m] · B
        (block $rowsDone
          (loop $rows
            (br_if $rowsDone (i32.ge_u (local.get $m) (local.get $M)))
            (local.set $pc (i32.add (local.get $C) (i32.shl (i32.mul (local.get $m) (local.get $N)) (i32.const 2))))
            (local.set $end (i32.add (local.get $pc) (i32.shl (local.get $N) (i32.const 2))))
            (block $zeroed
              (loop $zero
                (br_if $zeroed (i32.ge_u (local.get $pc) (local.get $end)))
                (f32.store (local.get $pc) (f32.const 0))
                (local.set $pc (i32.add (local.get $pc) (i32.const 4)))
                (br $zero)))
            (call $gemvs
              (i32.add (local.get $A) (i32.shl (i32.mul (local.get $m) (local.get $K)) (i32.const 2)))
              (local.get $B)
              (i32.add (local.get $C) (i32.shl (i32.mul (local.get $m) (local.get $N)) (i32.const 2)))
              (local.get $K) (local.get $N) (local.get $N))
            (local.set $m (i32.add (local.get $m) (i32.const 1)))
            (br $rows)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $batches))))
)
