// Fused causal GQA attention in f32, flash style: the native twin of src/backends/ts/attention.ts.
// Callers validate sizes; arrays are contiguous and never alias.
#pragma once

#include <cstdint>

namespace lithe {

// q: [B, Hq, T, D], k: [B, Hkv, S, D], v: [B, Hkv, S, Dv]; query head h reads kv head h / (Hq / Hkv).
struct AttentionShape {
  int64_t batch;
  int64_t heads;
  int64_t kv_heads;
  int64_t t;
  int64_t s;
  int64_t d;
  int64_t dv;
  float scale;
  bool causal;  // query i sees keys j <= i + S − T
  int64_t window;  // > 0: query i also needs j > i + S − T − window
  // At most one mask, read as [B, Hq, T, S] through mask_strides from its first element: keep (non-zero =
  // may attend) or add (added to the scaled scores).
  const uint8_t* mask_keep;
  const float* mask_add;
  int64_t mask_strides[4];
};

// out [B, Hq, T, Dv] = softmax(scale · Q Kᵀ + mask) V with an online softmax over key blocks, and lse [B, Hq, T]
// each row's log Σ exp of its scores; a row with no visible key gets out = 0 and lse = +inf.
void attention_forward_f32(const AttentionShape& shape, const float* q, const float* k, const float* v, float* out,
                           float* lse);

// FlashAttention-2 backward from out and lse (probabilities recomputed block by block). dq, dk, dv are
// overwritten; a null one is skipped. dk and dv sum over each kv group's query heads.
void attention_backward_f32(const AttentionShape& shape, const float* q, const float* k, const float* v,
                            const float* out, const float* lse, const float* d_out, float* dq, float* dk, float* dv);

}  // namespace lithe
