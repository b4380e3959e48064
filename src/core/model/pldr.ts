/**
 * A PLDR-LLM as a loaded model (docs/spec.md §1): its parameters under the reference's state-dict names,
 * prepared once for inference (weights.ts), and one checked model call, `forward`, over the forward
 * pass of forward.ts. Re-exports what callers of the model use, so that they import from one place:
 * the forward pass and mask (forward.ts), the caches (cache.ts), prepared weights (weights.ts) and
 * the products (grads.ts, linear.ts).
 */
import * as tf from '@tensorflow/tfjs';

import {checkModelFits} from '../backend.js';
import {type ModelConfig, ropeStyle} from '../config.js';
import {PldrError} from '../errors.js';
import type {HostTensor} from '../io/tensor.js';
import {cachedLength} from './cache.js';
import {type ForwardOptions, type ForwardResult, forwardWith} from './forward.js';
import {type BlockedLinear, blockedFromHost} from './linear.js';
import {Rope} from './rope.js';
import {isIdentity, linearSources, prepareWeights, type Weights} from './weights.js';

export class PldrModel {
  readonly dk: number;
  readonly rope: Rope;
  /** Prepared weights for inference: every linear weight transposed (Q, K, V as one). */
  readonly w: Weights;
  /** Parameter names in state-dict order. */
  private readonly keys: string[];
  /** Parameters held in the reference layout: everything but the linear weights, until `params` is read. */
  private readonly own = new Map<string, tf.Tensor>();
  /** Linear weights held only as prepared copies: rebuilt from `w` when `params` is read. */
  private readonly freed = new Set<string>();

  constructor(
    readonly cfg: ModelConfig,
    /** Reference-named parameters in state-dict order, float32 on the host. */
    weights: Map<string, HostTensor>,
    /** v510G: the constant G_LM per layer, each [1, H, dk, dk]. */
    readonly G?: tf.Tensor4D[],
  ) {
    checkModelFits(cfg); // before the RoPE tables and the first upload
    this.dk = cfg.d_model / cfg.num_heads;
    this.rope = new Rope(cfg.max_seq_len, this.dk, ropeStyle(cfg));
    // Each parameter reaches the backend when preparing first asks for it, so at most a matrix or
    // two are held in both layouts at any time while loading.
    const params = this.own;
    const upload = (k: string, t: HostTensor) => tf.keep(tf.tensor(t.data as Float32Array, t.shape, 'float32'));
    this.keys = [...weights.keys()];
    this.w = tf.tidy(() => {
      const get = (k: string) => {
        const host = weights.get(k);
        if (!host) throw new PldrError(`missing weight ${k}`);
        if (!params.has(k)) params.set(k, upload(k, host));
        return params.get(k)!;
      };
      // Inference reads only the prepared copies: holding the reference layout too would double the
      // memory of every matrix. Each is freed as soon as its copy exists, so loading never holds both
      // layouts of the whole model at once; `params` rebuilds them when training or a test asks.
      const free = (keys: string[]) =>
        keys.forEach((k) => {
          params.get(k)!.dispose();
          params.delete(k);
          this.freed.add(k);
        });
      const w = prepareWeights(cfg, get, {
        G,
        fuse: true,
        copied: free,
        blocked: (m) => this.blockedFromHost(weights, m),
      });
      if (G) w.layers.forEach((lw, l) => (lw.identityG = isIdentity(G[l]!, this.dk)));
      return w as unknown as tf.TensorContainer;
    }) as unknown as Weights;
    // any parameter preparing did not ask for
    for (const [k, host] of weights) if (!params.has(k) && !this.freed.has(k)) params.set(k, upload(k, host));
  }

  /** The output layer as column blocks made on the host, when it is wider than our gemv serves; its original is then never uploaded. */
  private blockedFromHost(weights: Map<string, HostTensor>, module: string): BlockedLinear | undefined {
    const W = weights.get(`${module}.weight`);
    const bias = weights.get(`${module}.bias`);
    const blocked = W && bias ? blockedFromHost(W, bias) : undefined;
    if (blocked) this.freed.add(`${module}.weight`);
    return blocked;
  }

  /**
   * Reference-named parameters in state-dict order (training, tests). The first read after loading
   * rebuilds each linear weight from its prepared, transposed copy: exact, at the cost of that memory.
   */
  get params(): Map<string, tf.Tensor> {
    if (this.freed.size) {
      const sources = linearSources(this.cfg, this.w);
      for (const k of this.freed) {
        const src = sources.get(k)!;
        if ('blocks' in src)
          this.own.set(
            k,
            tf.tidy(() =>
              tf.concat(
                src.blocks.map((b) => b.wT.transpose()),
                0,
              ),
            ),
          );
        else
          this.own.set(
            k,
            tf.tidy(() => src.lin.wT.slice([0, src.from], [src.lin.wT.shape[0], src.to - src.from]).transpose()),
          );
      }
      this.freed.clear();
      this.ordered = undefined;
    }
    return (this.ordered ??= new Map(this.keys.map((k) => [k, this.own.get(k)!])));
  }
  private ordered?: Map<string, tf.Tensor>;

  get isG(): boolean {
    return this.cfg.variant === 'v510G';
  }
  get isDag(): boolean {
    return this.cfg.variant === 'v510_dag';
  }
  /** The SDPA special case: a PLDRv51G model whose G is exactly the identity in every layer. */
  get isSdpa(): boolean {
    return this.isG && this.w.layers.every((lw) => lw.identityG === true);
  }

  /** One model call (docs/spec.md §3, §4.2). ids is [B][L]; cached calls take exactly one token. */
  forward(ids: number[][], opts: ForwardOptions = {}): ForwardResult {
    this.checkCall(ids, opts);
    return tf.tidy(
      () => forwardWith(this, this.w, ids, {fast: true, ...opts}) as unknown as tf.TensorContainer,
    ) as unknown as ForwardResult;
  }

  private checkCall(ids: number[][], opts: ForwardOptions): void {
    const B = ids.length;
    const L = B > 0 ? ids[0].length : 0;
    if (B === 0 || L === 0) throw new PldrError('a model call needs at least one token');
    const V = this.cfg.input_vocab_size;
    for (const row of ids) {
      if (row.length !== L) throw new PldrError('all rows of a batch must have the same length');
      for (const id of row)
        if (!Number.isInteger(id) || id < 0 || id >= V)
          throw new PldrError(`token id ${id} is outside the vocabulary (0..${V - 1})`);
    }
    const Lc = cachedLength(opts);
    if ((opts.kv || opts.kvBuffer) && L !== 1)
      throw new PldrError(`a call with a KV-cache takes exactly one new token, got ${L} (docs/spec.md §3.4, T5)`);
    if (opts.kvBuffer && Lc >= opts.kvBuffer.capacity)
      throw new PldrError(`the in-place KV-cache is full (${opts.kvBuffer.capacity} positions)`);
    if (Lc + L > this.cfg.max_seq_len)
      throw new PldrError(
        `sequence of ${Lc + L} tokens exceeds max_seq_len ${this.cfg.max_seq_len}: positions must be < ${this.cfg.max_seq_len}`,
      );
  }

  /** Free every tensor the model holds (its parameters, prepared copies, G list and RoPE tables). */
  dispose(): void {
    tf.dispose(this.w as unknown as tf.TensorContainer);
    for (const t of this.own.values()) t.dispose();
    if (this.G) tf.dispose(this.G);
    this.rope.dispose();
  }
}
