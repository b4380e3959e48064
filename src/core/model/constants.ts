/**
 * The numbers the model hard-codes, in a module without tfjs, so that code that only reads configs or
 * measures deductive outputs (io/hf/config.ts, deductive/) can share them without loading the engine.
 */

/** LayerNorm's ε, everywhere (docs/spec.md §0). */
export const LN_EPS = 1e-6;
/** Added to A_LM so that its power A_LM^∘P stays finite (docs/spec.md §3.6). */
export const A_LM_FLOOR = Math.fround(1e-9);
/** The base of RoPE's frequencies θ_i = ROPE_THETA^(−2i/d_k) (docs/spec.md §3.4). */
export const ROPE_THETA = 10000;
