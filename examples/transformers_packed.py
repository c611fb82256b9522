"""flashattn as a transformers attention backend: packed and padded batches.

    python3 examples/transformers_packed.py [--device cuda|cpu] [--dtype bf16|fp16]
                                            [--model llama|qwen2|gemma2|gpt_oss|all] [--no-sync]

Registers the binding with transformers through the package's glue,
flashattn.transformers.register() (attention function and flash-attention mask
function under the name "flashattn", so the attention receives the 2D padding
mask or None; see python/README.md), builds a small randomly
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

import flashattn.transformers as fat  # noqa: E402  (the glue: attention and mask functions, register())

IMPL = fat.DEFAULT_NAME  # "flashattn"; fat.register() makes transformers accept it
# Models that list `_compatible_flash_implementations` (gpt-oss) replace any implementation whose name contains
# "flash" by their own flash kernel: they get the same functions under a name without "flash".
IMPL_NO_FLASH = "fa_varlen"


def impl_for(model):
    return IMPL_NO_FLASH if getattr(model, "_compatible_flash_implementations", None) else IMPL


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
    n = fat.stats["attention"] - calls_before
    if n != layers:
        print("  FAIL: our attention ran %d times for %d layers" % (n, layers), flush=True)
    return n == layers


@torch.no_grad()
def run(kind, device, dtype, tol):
    model, ref_impl = make_model(kind, dtype, device)
    impl = impl_for(model)
    truth = copy.deepcopy(model).float()  # float32 weights, eager attention: the yardstick for both
    set_impl(truth, "eager")
    print("%s (%d layers, heads 8/2, head_dim 64) on %s, %s; ours as %r, reference attention: %s" % (
        kind, model.config.num_hidden_layers, device, str(dtype)[6:], impl, ref_impl), flush=True)
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
    calls = fat.stats["attention"]
    ours = logits(model, impl, input_ids=ids, position_ids=pos)[0]
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
    calls = fat.stats["attention"]
    ours = logits(model, impl, input_ids=ids, attention_mask=mask, position_ids=pos)[keep]
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
    fat.NO_SYNC = args.no_sync
    import transformers
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float16
    tol = args.tol or (2e-2 if dtype == torch.bfloat16 else 5e-3)
    print("flashattn %s (%s), torch %s, transformers %s" % (
        flashattn.version(), flashattn.library()._flashattn_path, torch.__version__, transformers.__version__))
    fat.register(IMPL)
    fat.register(IMPL_NO_FLASH)
    kinds = ["llama", "qwen2", "gemma2", "gpt_oss"] if args.model == "all" else [args.model]
    results = {k: run(k, args.device, dtype, tol) for k in kinds}
    bad = [k for k, ok in results.items() if not ok]
    print("PASS" if not bad else "FAIL: %s" % ", ".join(bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
