"""transformers continuous batching: paged|flashattn against paged|sdpa.

    python3 bench/transformers_paged.py [--model llama|qwen2|qwen2-sliding|all] [--requests 64]
                                        [--max-new 128] [--dtype bf16|fp16] [--device cuda|cpu] [--cuda-graphs]

Builds a small randomly initialised model (no download, HF_HUB_OFFLINE=1;
default: 8 layers, hidden 2048, GQA 16/4 heads, head dim 128), registers
flashattn with transformers (flashattn.transformers.register()) and runs
model.generate_batch on the same prompts (random lengths, greedy) twice per
implementation: once to warm up, once timed. Prints tokens/s of each, then
checks ours against paged|sdpa:

  - our paged path ran and read transformers' cache through a block table
    (prefill chunks and decoding steps), on every layer;
  - greedy tokens: where a request's tokens first differ, the two chosen
    tokens must be a near-tie (their logprobs within --tie-tol: bf16 rounding
    differs between two correct kernels, and a random model has near-uniform
    logits), and at least --min-identical (default 0.5) of the requests must
    be identical throughout;
  - log-probabilities of the generated tokens up to the first difference
    within --lp-tol (absolute, + 2% relative).

Ends with PASS/FAIL per model and a short table. CUDA graphs and async
batching are off for both implementations unless --cuda-graphs.
Needs torch and transformers 5.x; the library as the binding finds it
(FLASHATTN_LIB, then build/libflashattn.so).
"""
import argparse
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import flashattn  # noqa: E402
import flashattn.transformers as fat  # noqa: E402


def make_model(kind, args, dtype):
    import transformers as T
    common = dict(vocab_size=args.vocab, hidden_size=args.hidden, intermediate_size=args.hidden * 2,
                  num_hidden_layers=args.layers, num_attention_heads=args.heads, num_key_value_heads=args.kv_heads,
                  head_dim=args.head_dim, max_position_embeddings=8192, initializer_range=0.05)
    if kind == "llama":
        cfg, cls = T.LlamaConfig(**common), T.LlamaForCausalLM
    elif kind == "qwen2":
        cfg, cls = T.Qwen2Config(**common), T.Qwen2ForCausalLM
    elif kind == "qwen2-sliding":
        half = args.layers // 2
        cfg = T.Qwen2Config(**common, use_sliding_window=True, sliding_window=128, max_window_layers=half,
                            layer_types=["full_attention"] * half + ["sliding_attention"] * (args.layers - half))
        cls = T.Qwen2ForCausalLM
    else:
        raise ValueError(kind)
    torch.manual_seed(0)
    with torch.device(args.device):  # initialise on the device: much faster than on the CPU for a 300M model
        model = cls._from_config(cfg, attn_implementation="sdpa", dtype=dtype)
    return model.to(args.device).eval()


def generate(model, impl, prompts, args):
    from transformers import ContinuousBatchingConfig, GenerationConfig
    model.set_attn_implementation(impl)
    gen = GenerationConfig(max_new_tokens=args.max_new, do_sample=False, eos_token_id=-1, pad_token_id=0)
    pages = sum(-(-(len(p) + args.max_new) // args.block_size) for p in prompts) + 16
    cb = ContinuousBatchingConfig(block_size=args.block_size, num_blocks=pages, max_batch_tokens=args.max_batch_tokens,
                                  return_logprobs=True, use_cuda_graph=bool(args.cuda_graphs),
                                  use_async_batching=bool(args.cuda_graphs))
    if args.device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = model.generate_batch(prompts, generation_config=gen, continuous_batching_config=cb, warmup=True)
    if args.device == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    res = {}
    for o in out.values():
        if o.error:
            raise RuntimeError("%s: request %s failed: %s" % (impl, o.request_id, o.error))
        res[tuple(o.prompt_ids)] = (list(o.generated_tokens), list(o.logprobs))
    results = [res[tuple(p)] for p in prompts]
    return results, sum(len(t) for t, _ in results) / dt, dt


@torch.no_grad()
def run(kind, args, dtype):
    model = make_model(kind, args, dtype)
    g = torch.Generator().manual_seed(1)
    lo, hi = args.prompt_len
    prompts = [torch.randint(1, args.vocab, (int(n),), generator=g).tolist()
               for n in torch.randint(lo, hi + 1, (args.requests,), generator=g)]
    print("%s: %d layers, hidden %d, heads %d/%d, head_dim %d, %s, %s; %d requests, prompts %d..%d tokens, "
          "%d new tokens, pages of %d" % (kind, args.layers, args.hidden, args.heads, args.kv_heads, args.head_dim,
                                          args.device, str(dtype)[6:], args.requests, lo, hi, args.max_new,
                                          args.block_size), flush=True)
    row = {"model": kind}
    for impl in ("paged|sdpa", "paged|" + args.name):
        generate(model, impl, prompts[: max(2, args.requests // 8)], args)  # warm-up (allocator, kernels)
        fat.reset_stats()
        results, tps, dt = generate(model, impl, prompts, args)
        row[impl] = (results, tps, dt, dict(fat.stats))
        print("  %-16s %8.1f tokens/s  (%.2f s)" % (impl, tps, dt), flush=True)
    ref, ours = row["paged|sdpa"][0], row["paged|" + args.name][0]
    st = row["paged|" + args.name][3]
    identical, lp_err, ok_lp, first_diff, not_tie = 0, 0.0, True, [], 0
    for (t_o, lp_o), (t_r, lp_r) in zip(ours, ref):
        n = next((i for i, (a, b) in enumerate(zip(t_o, t_r)) if a != b), min(len(t_o), len(t_r)))
        identical += int(t_o == t_r)
        for a, b in zip(lp_o[:n], lp_r[:n]):
            err = abs(a - b)
            lp_err = max(lp_err, err)
            ok_lp &= err <= args.lp_tol + 0.02 * abs(b)
        if t_o != t_r:
            first_diff.append(n)
            # both chose a token of almost the same (maximal) log-probability: a near-tie
            if n < min(len(lp_o), len(lp_r)) and abs(lp_o[n] - lp_r[n]) > args.tie_tol:
                not_tie += 1
    share = identical / len(ref)
    layers = model.config.num_hidden_layers
    ran = st["paged"] > 0 and st["paged_table"] > 0 and st["paged"] % layers == 0
    ok = ran and ok_lp and not_tie == 0 and share >= args.min_identical
    print("  our paged calls: %d (%s)" % (st["paged"], ", ".join("%s %d" % (k[6:], v) for k, v in st.items()
                                                                   if k.startswith("paged_") and v)))
    print("  identical greedy sequences: %d / %d%s; differences not at a near-tie: %d; max |logprob diff| before "
          "a difference: %.3e (tol %.2g)  %s"
          % (identical, len(ref), " (first differences at tokens %s)" % first_diff[:8] if first_diff else "",
             not_tie, lp_err, args.lp_tol, "PASS" if ok else "FAIL"), flush=True)
    row.update(ok=ok, share=share, lp_err=lp_err)
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="all", choices=["llama", "qwen2", "qwen2-sliding", "all"])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="bf16", choices=["bf16", "fp16"])
    ap.add_argument("--requests", type=int, default=64)
    ap.add_argument("--prompt-len", type=int, nargs=2, default=(16, 1024), metavar=("MIN", "MAX"))
    ap.add_argument("--max-new", type=int, default=128)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--hidden", type=int, default=2048)
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--kv-heads", type=int, default=4)
    ap.add_argument("--head-dim", type=int, default=128)
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--block-size", type=int, default=256, help="transformers' page size (its default: 256)")
    ap.add_argument("--max-batch-tokens", type=int, default=2048)
    ap.add_argument("--cuda-graphs", action="store_true", help="CUDA graphs and async batching on (both)")
    ap.add_argument("--min-identical", type=float, default=0.5,
                    help="least share of requests with identical greedy tokens")
    ap.add_argument("--tie-tol", type=float, default=0.02,
                    help="a difference in greedy tokens passes when the two chosen tokens' logprobs are this close")
    ap.add_argument("--lp-tol", type=float, default=0.1)
    ap.add_argument("--name", default=fat.DEFAULT_NAME)
    args = ap.parse_args()
    if args.device == "cpu" and "--requests" not in sys.argv:  # the CPU backend is single-threaded: a small run
        args.requests, args.prompt_len, args.max_new, args.layers, args.hidden = 6, (4, 80), 8, 2, 256
        args.heads, args.kv_heads, args.head_dim, args.vocab, args.block_size = 4, 2, 64, 256, 16
        args.max_batch_tokens = 64
    import transformers
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float16
    print("flashattn %s (%s), torch %s, transformers %s, %s" % (
        flashattn.version(), flashattn.library()._flashattn_path, torch.__version__, transformers.__version__,
        torch.cuda.get_device_name() if args.device == "cuda" else "CPU"), flush=True)
    fat.register(args.name)
    kinds = ["llama", "qwen2", "qwen2-sliding"] if args.model == "all" else [args.model]
    rows = [run(k, args, dtype) for k in kinds]
    print("\n| model | paged\\|sdpa tok/s | paged\\|%s tok/s | ratio | identical | max lp diff | result |" % args.name)
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        a, b = r["paged|sdpa"][1], r["paged|" + args.name][1]
        print("| %s | %.1f | %.1f | %.2fx | %.0f%% | %.2e | %s |" % (r["model"], a, b, b / a, 100 * r["share"],
                                                                    r["lp_err"], "PASS" if r["ok"] else "FAIL"))
    bad = [r["model"] for r in rows if not r["ok"]]
    print("PASS" if not bad else "FAIL: %s" % ", ".join(bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
