"""flashattn as a transformers attention backend: packed and padded batches.

    python3 examples/transformers_packed.py [--device cuda|cpu] [--dtype bf16|fp16]
                                            [--model llama|qwen2|gemma2|gpt_oss|all] [--no-sync]

Registers the binding (python/flashattn) with transformers' AttentionInterface
under the name "fa_varlen" (with the flash-attention mask function, so the
attention receives the 2D padding mask or None), builds a small randomly
initialised model (no download; HF_HUB_OFFLINE=1 is set), and checks two
paths against the same weights on transformers' own attention:

  (a) packed: several sequences concatenated into one row, no attention
      mask, position ids restarting at 0. cu_seqlens come from the position
      ids through the library's helper (cu_seqlens_from_position_ids), once
      per forward (one small sync, or none with --no-sync). Reference: each
      sequence run alone on the reference attention.
  (b) padded: a left-padded batch with an attention mask. unpad_info /
      unpad / varlen_attn / pad, none of which waits for the device.
      Reference: the same batch and mask on the reference attention,
      compared on the non-padded positions.

The reference attention is "sdpa" (llama, qwen2) or "eager" (gemma2 for its
softcap, gpt_oss for its sinks), at the same dtype. A float32 copy of the
model (eager, each sequence alone) is the yardstick for both: ours must be
within --tol of the reference and no farther from float32 than the
reference is. Prints max abs / relative differences of the logits and
PASS/FAIL per check; exits 1 on any FAIL.

CUDA (torch CUDA tensors, bf16 by default) runs the library's CUDA kernels;
--device cpu runs the CPU backend on torch CPU tensors (slow but exact).
Needs torch and transformers (5.x); the library is found as the binding
finds it (FLASHATTN_LIB, then build/libflashattn.so).
"""
import argparse
import copy
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import flashattn  # noqa: E402

IMPL = "fa_varlen"  # no "flash" in the name: transformers treats those names specially
NO_SYNC = False  # --no-sync


# ---------------------------------------------------------------- the attention function

class _PackedCache(object):
    """cu_seqlens and max_seqlen of the last position_ids seen: every layer of
    one forward gets the same tensor, so only the first layer computes them."""
    ids = None
    value = None


def _rows(x):
    """[b, h, s, d] (transformers' layout) -> [b * s, h, d] rows for varlen_attn.
    b == 1 is a strided view (no copy: the binding passes strides through);
    b > 1 needs a copy, as in transformers' own flash path."""
    b, h, s, d = x.shape
    if b == 1:
        return x[0].transpose(0, 1)
    return x.transpose(1, 2).reshape(b * s, h, d)


def _packed_cu_seqlens(position_ids, no_sync):
    ids = position_ids.reshape(-1)
    if _PackedCache.ids is position_ids:
        return _PackedCache.value
    info = flashattn.cu_seqlens_from_position_ids(ids if ids.is_contiguous() else ids.contiguous())
    total = ids.numel()
    if no_sync:
        # every entry: trailing sequences are empty; total bounds every length
        value = (info.cu_seqlens, total)
    else:
        n, max_len = flashattn.to_host(info.num_seqs, info.max_seqlen)
        value = (info.cu_seqlens[:n + 1], max_len)
    _PackedCache.ids, _PackedCache.value = position_ids, value
    return value


CALLS = {"n": 0}  # how often transformers called us: a PASS must not come from another implementation


def fa_varlen_attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None, sliding_window=None,
                        softcap=None, is_causal=None, s_aux=None, position_ids=None, cu_seq_lens_q=None,
                        cu_seq_lens_k=None, max_length_q=None, max_length_k=None, **kwargs):
    """transformers attention function: query [b, hq, sq, d], key/value [b, hk, sk, d];
    returns ([b, sq, hq, d], None)."""
    CALLS["n"] += 1
    if dropout and module.training:
        raise NotImplementedError("fa_varlen is forward-only (no dropout, no autograd)")
    b, hq, sq, d = query.shape
    sk = key.shape[2]
    if query.dtype not in (torch.float16, torch.bfloat16):  # e.g. fp32 layer norms upstream
        target = next(p for p in module.parameters() if p.dtype in (torch.float16, torch.bfloat16)).dtype
        query, key, value = query.to(target), key.to(target), value.to(target)
    causal = module.is_causal if is_causal is None else is_causal
    if sliding_window is not None:  # transformers' FA convention: sliding_window tokens including itself
        window = (sliding_window - 1, 0 if causal else sliding_window - 1)
    else:
        window = (-1, 0) if causal else (-1, -1)
    opts = dict(scale=scaling, window_size=window, softcap=softcap or 0.0, sinks=s_aux)

    if attention_mask is not None:
        # (b) padding mask [b, sk] (bool): gather, attend, scatter; no sync anywhere
        mask = attention_mask[:, -sk:].contiguous()
        info_k = flashattn.unpad_info(mask)
        info_q = info_k if sq == sk else flashattn.unpad_info(mask[:, -sq:].contiguous())  # left padding
        q = flashattn.unpad(query.transpose(1, 2).contiguous(), info_q.indices, info_q.count)
        k = flashattn.unpad(key.transpose(1, 2).contiguous(), info_k.indices, info_k.count)
        v = flashattn.unpad(value.transpose(1, 2).contiguous(), info_k.indices, info_k.count)
        # total = b * s rows and max = s are valid host bounds: no .item()
        out = flashattn.varlen_attn(q, k, v, info_q.cu_seqlens, info_k.cu_seqlens, sq, sk, **opts)
        return flashattn.pad(out, info_q.indices, info_q.count, b, sq), None

    if cu_seq_lens_q is not None and cu_seq_lens_k is not None:
        # varlen kwargs given by the caller (transformers' FlashAttentionKwargs)
        cu_q, cu_k = cu_seq_lens_q.to(torch.int32), cu_seq_lens_k.to(torch.int32)
        max_q = int(max_length_q) if max_length_q is not None else b * sq
        max_k = int(max_length_k) if max_length_k is not None else b * sk
    elif position_ids is not None and b == 1 and sq == sk:
        # (a) packed sequences: position ids restart at 0 where a sequence starts
        cu_q, max_q = _packed_cu_seqlens(position_ids, NO_SYNC)
        cu_k, max_k = cu_q, max_q
    else:
        # a plain batch: every row is one sequence (sq queries at the end of sk keys)
        dev = query.device
        cu_q = torch.arange(0, (b + 1) * sq, sq, dtype=torch.int32, device=dev)
        cu_k = torch.arange(0, (b + 1) * sk, sk, dtype=torch.int32, device=dev)
        max_q, max_k = sq, sk
    out = flashattn.varlen_attn(_rows(query), _rows(key), _rows(value), cu_q, cu_k, max_q, max_k, **opts)
    return out.view(b, sq, hq, d), None


def register():
    """Register "fa_varlen": the attention function and the flash-attention mask
    function (the attention then receives the 2D padding mask, or None)."""
    from transformers import AttentionInterface, AttentionMaskInterface
    from transformers.masking_utils import flash_attention_mask
    AttentionInterface.register(IMPL, fa_varlen_attention)
    AttentionMaskInterface.register(IMPL, flash_attention_mask)


# ---------------------------------------------------------------- models

def make_model(kind, dtype, device):
    """A small randomly initialised causal LM (head_dim 64, GQA 8/2)."""
    import transformers as T
    common = dict(vocab_size=512, hidden_size=512, intermediate_size=1024, num_hidden_layers=4,
                  num_attention_heads=8, num_key_value_heads=2, head_dim=64, max_position_embeddings=4096)
    if kind == "llama":
        cfg, cls, ref = T.LlamaConfig(**common), T.LlamaForCausalLM, "sdpa"
    elif kind == "qwen2":
        cfg = T.Qwen2Config(**common, use_sliding_window=True, sliding_window=24, max_window_layers=2,
                            layer_types=["full_attention"] * 2 + ["sliding_attention"] * 2)
        cls, ref = T.Qwen2ForCausalLM, "sdpa"
    elif kind == "gemma2":
        # scale 1 (query_pre_attn_scalar=1) and larger q/k weights so that scores reach the softcap
        cfg = T.Gemma2Config(**common, sliding_window=24, attn_logit_softcapping=2.0, final_logit_softcapping=30.0,
                             query_pre_attn_scalar=1, initializer_range=0.05)
        cls, ref = T.Gemma2ForCausalLM, "eager"
    elif kind == "gpt_oss":
        # every expert on every token: a top-k router would flip on rounding noise
        cfg = T.GptOssConfig(**dict(common, intermediate_size=256), num_local_experts=2, num_experts_per_tok=2,
                             sliding_window=24, layer_types=["sliding_attention", "full_attention"] * 2)
        cls, ref = T.GptOssForCausalLM, "eager"
    else:
        raise ValueError(kind)
    torch.manual_seed(0)
    model = cls._from_config(cfg, attn_implementation=ref, dtype=dtype) if hasattr(cls, "_from_config") \
        else cls(cfg)
    model = model.to(device=device, dtype=dtype).eval()
    if kind == "gpt_oss":  # random sinks that matter (the default init is zeros)
        with torch.no_grad():
            for layer in model.model.layers:
                layer.self_attn.sinks.normal_(0.0, 1.0)
    return model, ref


def set_impl(model, name):
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation(name)
    else:  # older transformers
        model.config._attn_implementation = name


def rel(a, b):
    a, b = a.float(), b.float()
    return ((a - b).norm() / b.norm()).item()


def check(label, ours, ref, truth, ref_impl, tol):
    """PASS when ours is within `tol` (relative) of the reference attention at
    the same precision, and no farther from the float32 model than that
    reference is (1.25x + 1e-3: both carry the model's bf16/fp16 rounding)."""
    d_ref, d_truth, ref_truth = rel(ours, ref), rel(ours, truth), rel(ref, truth)
    ok = bool(torch.isfinite(ours).all()) and d_ref <= tol and d_truth <= 1.25 * ref_truth + 1e-3
    print("  %s\n      vs %s: max abs %.3e rel %.3e (tol %.0e) | vs float32 model: rel %.3e (%s: %.3e)  %s"
          % (label, ref_impl, (ours.float() - ref.float()).abs().max().item(), d_ref, tol, d_truth, ref_impl,
             ref_truth, "PASS" if ok else "FAIL"), flush=True)
    return ok


def used_ours(calls_before, layers):
    """One call per layer, or the comparison below would prove nothing."""
    n = CALLS["n"] - calls_before
    if n != layers:
        print("  FAIL: our attention ran %d times for %d layers" % (n, layers), flush=True)
    return n == layers


@torch.no_grad()
def run(kind, device, dtype, tol):
    model, ref_impl = make_model(kind, dtype, device)
    truth = copy.deepcopy(model).float()  # float32 weights, eager attention: the yardstick for both
    set_impl(truth, "eager")
    print("%s (%d layers, heads 8/2, head_dim 64) on %s, %s; reference attention: %s" % (
        kind, model.config.num_hidden_layers, device, str(dtype)[6:], ref_impl), flush=True)
    g = torch.Generator().manual_seed(1)
    vocab = model.config.vocab_size

    def logits(m, impl, **kw):
        if impl is not None:
            set_impl(m, impl)
        return m(use_cache=False, **kw).logits

    ok = True
    # (a) packed sequences, no mask; position ids restart at 0
    lens = [37, 5, 64, 1, 20]
    seqs = [torch.randint(0, vocab, (n,), generator=g).to(device) for n in lens]
    ids = torch.cat(seqs)[None]
    pos = torch.cat([torch.arange(n) for n in lens])[None].to(device)
    calls = CALLS["n"]
    ours = logits(model, IMPL, input_ids=ids, position_ids=pos)[0]
    ok &= used_ours(calls, model.config.num_hidden_layers)
    ref = torch.cat([logits(model, ref_impl, input_ids=x[None])[0] for x in seqs])
    exact = torch.cat([logits(truth, None, input_ids=x[None])[0] for x in seqs])
    ok &= check("(a) packed %s, position ids, no mask; reference: each sequence alone" % lens, ours, ref, exact,
                ref_impl, tol)

    # (b) left-padded batch with an attention mask
    lens = [48, 13, 30, 1]
    s = max(lens)
    mask = torch.zeros(len(lens), s, dtype=torch.long)
    for i, n in enumerate(lens):
        mask[i, s - n:] = 1
    ids = torch.randint(0, vocab, (len(lens), s), generator=g)
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    ids, mask, pos = ids.to(device), mask.to(device), pos.to(device)
    keep = mask.bool()
    calls = CALLS["n"]
    ours = logits(model, IMPL, input_ids=ids, attention_mask=mask, position_ids=pos)[keep]
    ok &= used_ours(calls, model.config.num_hidden_layers)
    ref = logits(model, ref_impl, input_ids=ids, attention_mask=mask, position_ids=pos)[keep]
    exact = torch.cat([logits(truth, None, input_ids=ids[i, s - n:][None])[0] for i, n in enumerate(lens)])
    ok &= check("(b) left-padded %s with attention mask; reference: the same batch and mask" % lens, ours, ref,
                exact, ref_impl, tol)
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="bf16", choices=["bf16", "fp16"])
    ap.add_argument("--model", default="llama", choices=["llama", "qwen2", "gemma2", "gpt_oss", "all"])
    ap.add_argument("--tol", type=float, default=None,
                    help="relative tolerance on the logits (default 2e-2 bf16, 5e-3 fp16)")
    ap.add_argument("--no-sync", action="store_true",
                    help="packed path without to_host: all of cu_seqlens, max_seqlen = total")
    args = ap.parse_args()
    global NO_SYNC
    NO_SYNC = args.no_sync
    import transformers
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float16
    tol = args.tol or (2e-2 if dtype == torch.bfloat16 else 5e-3)
    print("flashattn %s (%s), torch %s, transformers %s" % (
        flashattn.version(), flashattn.library()._flashattn_path, torch.__version__, transformers.__version__))
    register()
    kinds = ["llama", "qwen2", "gemma2", "gpt_oss"] if args.model == "all" else [args.model]
    results = {k: run(k, args.device, dtype, tol) for k in kinds}
    bad = [k for k, ok in results.items() if not ok]
    print("PASS" if not bad else "FAIL: %s" % ", ".join(bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
