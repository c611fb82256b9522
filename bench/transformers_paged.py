"""transformers continuous batching: paged|flashattn against paged|sdpa.

    python3 bench/transformers_paged.py [--model llama|qwen2|qwen2-sliding|all] [--requests 64]
                                        [--max-new 128] [--dtype bf16|fp16] [--device cuda|cpu] [--cuda-graphs]
                                        [--yardstick [--yardstick-margin 0.25]]

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

--yardstick adds a float32 reference: the same weights (the half model's,
upcast exactly) in float32, the same requests through paged|sdpa, then a
teacher-forced forward of each model over the float32 run's sequences
(prompt + its generated tokens; the regular, non-paged attention path,
sdpa, ours and float32 sdpa). For each half-precision run (paged|sdpa,
ours) it reports the distance to float32: greedy sequences identical to
float32's, first-difference positions, |logprob diff| of the chosen tokens
where both half runs still follow float32's tokens (same context, so a
teacher-forced comparison through the paged path itself), the
teacher-forced |logprob diff| of float32's tokens over whole sequences, and
at each first difference the float32 model's logprob gap between its token
and the half run's token (how close to a tie that choice was). With
--yardstick the verdict is (m = --yardstick-margin, eps = 5e-4):

  - our paged path ran, as above;
  - mean |logprob diff| to float32 where both half runs follow float32's
    tokens: ours <= (1 + m) * sdpa's + eps;
  - teacher-forced mean |logprob diff| to float32: ours <= (1 + m) * sdpa's
    + eps;
  - the near-tie rule against float32: where ours first leaves float32's
    tokens, the float32 gap is at most max(--tie-tol, 2 * the largest gap
    of sdpa's first differences), and on average at most (1 + m) * sdpa's
    average + --tie-tol.

The ours-against-sdpa check above is still printed, for information. With
--yardstick on CUDA the defaults become 32 requests and 64 new tokens
(prompts, pages and model unchanged), aiming at about 90 s for the three
models on an H200 (an estimate from the earlier tokens/s, not yet
measured); pass --requests / --max-new to override. Reading it: ours
close to sdpa on every distance means bf16 noise; ours much farther where
both follow float32 (the paged path) but not teacher-forced (the regular
path) points at the paged path. float32 matmuls run
without TF32 (torch.set_float32_matmul_precision("highest")).

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


def first_diff(a, b):
    """Index of the first differing token of two sequences (the shorter length if one is a prefix of the other)."""
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


@torch.no_grad()
def teacher_forced(model, impl, prompts, tokens, args, each=None):
    """A regular forward of `model` (attention `impl`) over prompt + tokens[:-1] of each request, one request at a
    time: per request, the float32 log-probabilities of `tokens` (log_softmax of the logits, as continuous batching
    computes its logprobs) and the model's own argmax at those positions. each(i, log_softmax [len(tokens), vocab])
    sees every request's log-probabilities."""
    model.set_attn_implementation(impl)
    res = []
    for i, (p, t) in enumerate(zip(prompts, tokens)):
        ids = torch.tensor([p + t[:-1]], device=args.device)
        logits = model(input_ids=ids, use_cache=False, logits_to_keep=len(t)).logits[0]
        lsm = torch.log_softmax(logits.float(), dim=-1)
        lp = lsm.gather(1, torch.tensor(t, device=lsm.device)[:, None])[:, 0]
        if each is not None:
            each(i, lsm)
        res.append((lp.tolist(), lsm.argmax(-1).tolist()))
    return res


def _mean(xs):
    return sum(xs) / len(xs) if xs else 0.0


@torch.no_grad()
def yardstick(kind, model, prompts, row, args):
    """The float32 reference run and the distances of both half-precision runs to it (see the module docstring).
    Returns a dict of per-implementation numbers and the verdict."""
    half = {"sdpa": "paged|sdpa", "ours": "paged|" + args.name}
    model32 = make_model(kind, args, torch.float32)
    model32.load_state_dict(model.state_dict())  # the half model's weights, upcast exactly
    t0 = time.perf_counter()
    res32, tps32, dt32 = generate(model32, "paged|sdpa", prompts, args)
    tok32 = [t for t, _ in res32]
    lp32 = [lp for _, lp in res32]
    print("  %-16s %8.1f tokens/s  (%.2f s)  float32 yardstick" % ("paged|sdpa fp32", tps32, dt32), flush=True)

    # first differences of each half run from float32's tokens, and the float32 gap at each
    runs = {k: [t for t, _ in row[impl][0]] for k, impl in half.items()}
    lps = {k: [lp for _, lp in row[impl][0]] for k, impl in half.items()}
    firsts = {k: [first_diff(t, t32) for t, t32 in zip(runs[k], tok32)] for k in half}
    gaps = {k: {} for k in half}

    def flips(i, lsm):
        for k in half:
            n, t = firsts[k][i], runs[k][i]
            if n < min(len(t), len(tok32[i])):
                gaps[k][i] = (lsm[n, tok32[i][n]] - lsm[n, t[n]]).item()

    tf32 = teacher_forced(model32, "sdpa", prompts, tok32, args, each=flips)
    del model32
    if args.device == "cuda":
        torch.cuda.empty_cache()
    tf = {"sdpa": teacher_forced(model, "sdpa", prompts, tok32, args),
          "ours": teacher_forced(model, args.name, prompts, tok32, args)}
    # the yardstick's own consistency: float32 paged|sdpa against float32 regular sdpa on the same tokens
    self_lp = max(abs(a - b) for (lp_tf, _), lp_g in zip(tf32, lp32) for a, b in zip(lp_tf, lp_g))
    self_am = _mean([float(a == b) for (_, am), t in zip(tf32, tok32) for a, b in zip(am, t)])

    out = {}
    for k in half:
        common = [abs(lps[k][i][j] - lp32[i][j]) for i in range(len(prompts))
                  for j in range(min(firsts["sdpa"][i], firsts["ours"][i]))]
        own = [abs(lps[k][i][j] - lp32[i][j]) for i in range(len(prompts)) for j in range(firsts[k][i])]
        d_tf = [abs(a - b) for (lp_m, _), (lp_r, _) in zip(tf[k], tf32) for a, b in zip(lp_m, lp_r)]
        agree = [float(a == b) for (_, am), t in zip(tf[k], tok32) for a, b in zip(am, t)]
        g = list(gaps[k].values())
        out[k] = dict(identical=sum(t == t32 for t, t32 in zip(runs[k], tok32)),
                      first=[n for n, t, t32 in zip(firsts[k], runs[k], tok32) if t != t32],
                      prefix=_mean(firsts[k]), own_max=max(own, default=0.0),
                      common_mean=_mean(common), common_max=max(common, default=0.0), common_n=len(common),
                      tf_mean=_mean(d_tf), tf_max=max(d_tf, default=0.0), tf_agree=_mean(agree),
                      gap_mean=_mean(g), gap_max=max(g, default=0.0))
    m, eps = args.yardstick_margin, 5e-4
    o, r = out["ours"], out["sdpa"]
    tie_bound = max(args.tie_tol, 2 * r["gap_max"])
    checks = {
        "prefix": o["common_mean"] <= (1 + m) * r["common_mean"] + eps,
        "teacher-forced": o["tf_mean"] <= (1 + m) * r["tf_mean"] + eps,
        "near-tie": o["gap_max"] <= tie_bound and o["gap_mean"] <= (1 + m) * r["gap_mean"] + args.tie_tol,
    }
    n = len(prompts)
    print("  yardstick self-check: float32 paged|sdpa vs float32 sdpa forward: max |logprob diff| %.2e, argmax = "
          "generated token %.1f%%%s" % (self_lp, 100 * self_am,
                                       "" if self_lp < 1e-2 else "  WARNING: the float32 runs disagree"))
    for k in ("sdpa", "ours"):
        x = out[k]
        print("  %-16s vs fp32: identical %d / %d%s, mean tokens before the first difference %.1f; max |logprob "
              "diff| before its first difference %.3e" % (
                  half[k], x["identical"], n, " (first differences at %s)" % x["first"][:8] if x["first"] else "",
                  x["prefix"], x["own_max"]))
        print("  %-16s   where both half runs follow fp32 (%d tokens): |logprob diff| mean %.3e max %.3e; "
              "teacher-forced: mean %.3e max %.3e, argmax = fp32 token %.1f%%; fp32 gap at first differences: "
              "mean %.3e max %.3e" % ("", x["common_n"], x["common_mean"], x["common_max"], x["tf_mean"],
                                     x["tf_max"], 100 * x["tf_agree"], x["gap_mean"], x["gap_max"]))
    ok = all(checks.values())
    print("  yardstick (margin %.2g; %.1f s): %s  %s" % (
        m, time.perf_counter() - t0, ", ".join("%s %s" % (c, "ok" if v else "FAILED") for c, v in checks.items()),
        "PASS" if ok else "FAIL"), flush=True)
    out.update(ok=ok, checks=checks, fp32_tps=tps32, self_lp=self_lp)
    return out


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
    identical, lp_err, ok_lp, firsts, not_tie = 0, 0.0, True, [], 0
    for (t_o, lp_o), (t_r, lp_r) in zip(ours, ref):
        n = first_diff(t_o, t_r)
        identical += int(t_o == t_r)
        for a, b in zip(lp_o[:n], lp_r[:n]):
            err = abs(a - b)
            lp_err = max(lp_err, err)
            ok_lp &= err <= args.lp_tol + 0.02 * abs(b)
        if t_o != t_r:
            firsts.append(n)
            # both chose a token of almost the same (maximal) log-probability: a near-tie
            if n < min(len(lp_o), len(lp_r)) and abs(lp_o[n] - lp_r[n]) > args.tie_tol:
                not_tie += 1
    share = identical / len(ref)
    layers = model.config.num_hidden_layers
    ran = st["paged"] > 0 and st["paged_table"] > 0 and st["paged"] % layers == 0
    direct_ok = ran and ok_lp and not_tie == 0 and share >= args.min_identical
    print("  our paged calls: %d (%s)" % (st["paged"], ", ".join("%s %d" % (k[6:], v) for k, v in st.items()
                                                                   if k.startswith("paged_") and v)))
    print("  identical greedy sequences: %d / %d%s; differences not at a near-tie: %d; max |logprob diff| before "
          "a difference: %.3e (tol %.2g)  %s"
          % (identical, len(ref), " (first differences at tokens %s)" % firsts[:8] if firsts else "",
             not_tie, lp_err, args.lp_tol, ("PASS" if direct_ok else "FAIL") + (" (information only: --yardstick decides)"
                                                                  if args.yardstick else "")), flush=True)
    ok = direct_ok
    if args.yardstick:
        row["yardstick"] = y = yardstick(kind, model, prompts, row, args)
        ok = ran and y["ok"]
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
    ap.add_argument("--yardstick", action="store_true",
                    help="also run the model in float32 (same weights, paged|sdpa) and judge ours by its distance to "
                         "float32 against sdpa's (on CUDA: default 32 requests, 64 new tokens)")
    ap.add_argument("--yardstick-margin", type=float, default=0.25,
                    help="relative margin by which ours may be farther from float32 than sdpa")
    args = ap.parse_args()

    def given(opt):
        return any(a == opt or a.startswith(opt + "=") for a in sys.argv[1:])

    if args.device == "cpu" and not given("--requests"):  # the CPU backend is single-threaded: a small run
        args.requests, args.prompt_len, args.max_new, args.layers, args.hidden = 6, (4, 80), 8, 2, 256
        args.heads, args.kv_heads, args.head_dim, args.vocab, args.block_size = 4, 2, 64, 256, 16
        args.max_batch_tokens = 64
    elif args.yardstick:  # a third (float32) run and three teacher-forced passes: fewer tokens, same sizes
        args.requests = args.requests if given("--requests") else 32
        args.max_new = args.max_new if given("--max-new") else 64
    if args.yardstick:
        torch.set_float32_matmul_precision("highest")  # no TF32 in the float32 reference
    import transformers
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float16
    print("flashattn %s (%s), torch %s, transformers %s, %s" % (
        flashattn.version(), flashattn.library()._flashattn_path, torch.__version__, transformers.__version__,
        torch.cuda.get_device_name() if args.device == "cuda" else "CPU"), flush=True)
    fat.register(args.name)
    kinds = ["llama", "qwen2", "qwen2-sliding"] if args.model == "all" else [args.model]
    t_start = time.perf_counter()
    rows = [run(k, args, dtype) for k in kinds]
    print("\n| model | paged\\|sdpa tok/s | paged\\|%s tok/s | ratio | identical | max lp diff | result |" % args.name)
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        a, b = r["paged|sdpa"][1], r["paged|" + args.name][1]
        print("| %s | %.1f | %.1f | %.2fx | %.0f%% | %.2e | %s |" % (r["model"], a, b, b / a, 100 * r["share"],
                                                                    r["lp_err"], "PASS" if r["ok"] else "FAIL"))
    if args.yardstick:
        print("\n| model | identical to fp32 (sdpa / ours) | mean tokens before first difference | "
              "\\|lp diff\\| where both follow fp32, mean | teacher-forced mean | fp32 gap at first differences, "
              "max | yardstick |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
        for r in rows:
            y = r["yardstick"]
            a, b = y["sdpa"], y["ours"]
            print("| %s | %d / %d | %.1f / %.1f | %.2e / %.2e | %.2e / %.2e | %.2e / %.2e | %s |" % (
                r["model"], a["identical"], b["identical"], a["prefix"], b["prefix"], a["common_mean"],
                b["common_mean"], a["tf_mean"], b["tf_mean"], a["gap_max"], b["gap_max"],
                "PASS" if y["ok"] else "FAIL"))
    bad = [r["model"] for r in rows if not r["ok"]]
    print("%s  (%.0f s)" % ("PASS" if not bad else "FAIL: %s" % ", ".join(bad), time.perf_counter() - t_start))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
