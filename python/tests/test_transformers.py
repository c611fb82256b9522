"""flashattn.transformers on small random Llama / Qwen2 models (CPU backend
with torch CPU tensors, CUDA when FLASHATTN_TEST_DEVICE=cuda).

(a) attn_implementation="flashattn" vs "sdpa": logits of a padded batch and
    of packed sequences.
(b) generate_batch (continuous batching) with "paged|flashattn" vs
    "paged|sdpa": the same greedy tokens (a difference is accepted only at a
    near-tie of the two top tokens, in at most one sequence), and the
    log-probabilities of those tokens within tolerance; our paged path must
    have read the cache through a block table (chunked prefill and decoding
    steps). float16: a random model has near-uniform logits, and bfloat16
    rounding alone flips greedy choices between two correct kernels.

Skips, with the reason, when torch or transformers (>= 5, with continuous
batching) is missing. No download: the models are built from configs.
"""
import os
import sys
import unittest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# fa_common also when run by path from the repository root (python3 -m unittest python/tests/test_transformers.py)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fa_common import torch  # noqa: E402  (also puts python/ on sys.path)

transformers = None
if torch is not None:
    try:
        import transformers
        from transformers import ContinuousBatchingConfig, GenerationConfig
        _TF_REASON = None
        if int(transformers.__version__.split(".")[0]) < 5:
            _TF_REASON = "transformers %s is installed; flashattn.transformers needs >= 5" % transformers.__version__
    except Exception as e:  # pragma: no cover - depends on the machine (ImportError, or a broken install)
        transformers = None
        _TF_REASON = "transformers (>= 5) is not importable (%s: %s): pip install transformers" % (
            type(e).__name__, e)

if torch is None:
    _SKIP = "torch is not installed"
else:
    _SKIP = _TF_REASON

DEVICE = os.environ.get("FLASHATTN_TEST_DEVICE", "cpu")

try:  # transformers sizes its paged cache on the CPU from psutil's numbers (0 bytes available without it)
    import psutil  # noqa: F401
    _NO_PSUTIL = None
except ImportError:
    _NO_PSUTIL = "continuous batching on the CPU needs psutil (transformers sizes the cache with it): pip install psutil"


def make_model(kind, impl="sdpa", layers=2, dtype=None, sliding=False):
    """A small random causal LM: head_dim 64, GQA 4/2 heads, vocab 256."""
    T = transformers
    common = dict(vocab_size=256, hidden_size=256, intermediate_size=512, num_hidden_layers=layers,
                  num_attention_heads=4, num_key_value_heads=2, head_dim=64, max_position_embeddings=2048,
                  initializer_range=0.05)
    if kind == "llama":
        cfg, cls = T.LlamaConfig(**common), T.LlamaForCausalLM
    elif kind == "qwen2":
        extra = dict(use_sliding_window=True, sliding_window=24, max_window_layers=layers // 2,
                     layer_types=["full_attention"] * (layers // 2) + ["sliding_attention"] * (layers - layers // 2)) \
            if sliding else {}
        cfg, cls = T.Qwen2Config(**common, **extra), T.Qwen2ForCausalLM
    else:
        raise ValueError(kind)
    torch.manual_seed(0)
    model = cls._from_config(cfg, attn_implementation=impl, dtype=dtype or torch.float16)
    return model.to(DEVICE).eval()


def rel(a, b):
    a, b = a.float(), b.float()
    return ((a - b).norm() / b.norm()).item()


@unittest.skipIf(_SKIP is not None, _SKIP or "")
class TestTransformers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        import flashattn.transformers as fat
        cls.fat = fat
        cls.name = fat.register()

    # (a) the regular implementation against sdpa
    def _regular(self, kind):
        fat = self.fat
        model = make_model(kind)
        g = torch.Generator().manual_seed(1)
        lens = [20, 7, 13]
        s = max(lens)
        mask = torch.zeros(len(lens), s, dtype=torch.long)
        for i, n in enumerate(lens):
            mask[i, s - n:] = 1
        ids = torch.randint(0, 256, (len(lens), s), generator=g)
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        ids, mask, pos = ids.to(DEVICE), mask.to(DEVICE), pos.to(DEVICE)
        keep = mask.bool()
        with torch.no_grad():
            ref = model(input_ids=ids, attention_mask=mask, position_ids=pos).logits[keep]
            model.set_attn_implementation(self.name)
            fat.reset_stats()
            ours = model(input_ids=ids, attention_mask=mask, position_ids=pos).logits[keep]
            self.assertEqual(fat.stats["attention"], model.config.num_hidden_layers)
            self.assertLess(rel(ours, ref), 2e-2, "padded batch: flashattn vs sdpa")
            # packed: the three sequences in one row, position ids restarting at 0
            seqs = [ids[i, s - n:] for i, n in enumerate(lens)]
            packed = torch.cat(seqs)[None]
            ppos = torch.cat([torch.arange(n) for n in lens])[None].to(DEVICE)
            ours = model(input_ids=packed, position_ids=ppos).logits[0]
            model.set_attn_implementation("sdpa")
            ref = torch.cat([model(input_ids=x[None]).logits[0] for x in seqs])
            self.assertLess(rel(ours, ref), 2e-2, "packed sequences: flashattn vs sdpa per sequence")

    def test_regular_llama(self):
        self._regular("llama")

    def test_regular_qwen2(self):
        self._regular("qwen2")

    def test_from_config_with_name(self):
        # a name containing "flash" must not make transformers look for a flash package
        model = make_model("llama", impl=self.name)
        self.assertEqual(model.config._attn_implementation, self.name)

    # (b) continuous batching: paged|flashattn against paged|sdpa
    def _generate(self, model, impl, prompts, max_new):
        model.set_attn_implementation(impl)
        gen = GenerationConfig(max_new_tokens=max_new, do_sample=False, eos_token_id=-1, pad_token_id=0)
        # small pages and a small token budget: several pages per sequence, prompts prefilled in chunks
        cb = ContinuousBatchingConfig(block_size=16, num_blocks=64, max_batch_tokens=48, return_logprobs=True,
                                      use_cuda_graph=False, use_async_batching=False)
        out = model.generate_batch(prompts, generation_config=gen, continuous_batching_config=cb, warmup=False)
        res = {}
        for o in out.values():
            self.assertIsNone(o.error, o.error)
            res[tuple(o.prompt_ids)] = (list(o.generated_tokens), list(o.logprobs))
        return [res[tuple(p)] for p in prompts]

    def _paged(self, kind, sliding=False):
        if DEVICE == "cpu" and _NO_PSUTIL:
            self.skipTest(_NO_PSUTIL)
        fat = self.fat
        model = make_model(kind, sliding=sliding)
        g = torch.Generator().manual_seed(2)
        prompts = [torch.randint(1, 256, (n,), generator=g).tolist() for n in (5, 40, 17, 70, 1)]
        max_new = 12
        with torch.no_grad():
            ref = self._generate(model, "paged|sdpa", prompts, max_new)
            fat.reset_stats()
            ours = self._generate(model, "paged|" + self.name, prompts, max_new)
        self.assertGreater(fat.stats["paged"], 0, "paged|%s never ran" % self.name)
        self.assertGreater(fat.stats["paged_table"], 0, "the cache was never read through a block table")
        if sliding:
            self.assertGreater(fat.stats["paged_sliding_gather"], 0)
        identical = 0
        for (t_ours, lp_ours), (t_ref, lp_ref), p in zip(ours, ref, prompts):
            self.assertEqual(len(t_ours), max_new)
            n = next((i for i, (a, b) in enumerate(zip(t_ours, t_ref)) if a != b), max_new)
            identical += n == max_new
            # logprobs of the chosen tokens agree up to the first difference, and a difference is only
            # allowed at a near-tie (both chose a token of almost the same, maximal, log-probability)
            for i, (a, b) in enumerate(zip(lp_ours[:n + 1], lp_ref[:n + 1])):
                self.assertAlmostEqual(a, b, delta=(0.02 + 0.01 * abs(b)) if i < n else 0.01,
                                       msg="prompt of %d tokens, token %d (%s)" % (
                                           len(p), i, "logprob" if i < n else "greedy tokens differ, not a near-tie"))
        self.assertGreaterEqual(identical, len(prompts) - 1, "greedy tokens differ in more than one sequence")

    def test_paged_llama(self):
        self._paged("llama")

    def test_paged_qwen2(self):
        self._paged("qwen2")

    def test_paged_qwen2_sliding(self):
        self._paged("qwen2", sliding=True)

    def test_block_table_from_read_index(self):
        # the page layout transformers' full-attention allocator uses
        bs = 4
        blocks = [[7, 2, 9], [0], [5, 3]]
        lens = [10, 3, 8]
        rows, cu = [], [0]
        for blk, n in zip(blocks, lens):
            rows += [blk[j // bs] * bs + j % bs for j in range(n)]
            cu.append(cu[-1] + n)
        rows += [99] * 5  # padding (read trash) after the real entries
        table, used = self.fat.block_table_from_read_index(torch.tensor(rows), torch.tensor(cu, dtype=torch.int32),
                                                           max(lens), bs)
        self.assertEqual(table.dtype, torch.int32)
        self.assertEqual(used.tolist(), lens)
        self.assertEqual(table.tolist(), [[7, 2, 9], [0, 0, 0], [5, 3, 0]])

    def test_paged_decode_block_table(self):
        """transformers' decode fast path (a block table per layer group, -1 padded; transformers 5.17 enables
        it only for flash_attention_2/3 on CUDA): called directly with a stand-in cache, against float64."""
        import types
        torch.manual_seed(3)
        bs, hk, hq, d, pages = 4, 2, 4, 64, 12
        past = [5, 0, 11]
        rows = pages * bs
        kc = torch.randn(rows, hk, d).half()
        vc = torch.randn(rows, hk, d).half()
        cache = types.SimpleNamespace(block_size=bs, num_key_value_heads=hk, head_dim=d, key_cache=[kc],
                                      value_cache=[vc], layer_index_to_group_indices={0: (0, 0)},
                                      write_trash_index=(pages - 1) * bs)
        perm = torch.randperm(pages - 1).tolist()
        table = torch.full((1, len(past), 4), -1, dtype=torch.int32)
        for b, n in enumerate(past):
            need = n // bs + 1
            table[0, b, :need] = torch.tensor([perm.pop() for _ in range(need)], dtype=torch.int32)
        lens = [n + 1 for n in past]
        cu_k = torch.tensor([0] + list(torch.tensor(lens).cumsum(0)), dtype=torch.int32)
        cu_q = torch.arange(len(past) + 1, dtype=torch.int32)
        q = torch.randn(1, hq, len(past), d).half()
        k = torch.randn(1, hk, len(past), d).half()
        v = torch.randn(1, hk, len(past), d).half()
        module = types.SimpleNamespace(layer_idx=0, scaling=d ** -0.5, sliding_window=None, training=False)
        self.fat.reset_stats()
        out, _ = self.fat.paged_attention_forward(module, q, k, v, None, scaling=d ** -0.5, cache=cache,
                                                  cu_seq_lens_q=cu_q, cu_seq_lens_k=cu_k, max_seqlen_q=1,
                                                  max_seqlen_k=1, block_table=table, read_index=[], write_index=[])
        self.assertEqual(self.fat.stats["paged_decode_table"], 1)
        self.assertEqual(tuple(out.shape), (1, len(past), hq, d))
        for b, n in enumerate(past):
            key_rows = [int(table[0, b, j // bs]) * bs + j % bs for j in range(n + 1)]
            # the new token was written where transformers' kernel would have appended it
            self.assertTrue(torch.equal(kc[key_rows[-1]], k[0, :, b]))
            kk = kc[key_rows].double().repeat_interleave(hq // hk, dim=1)  # [n + 1, hq, d]
            vv = vc[key_rows].double().repeat_interleave(hq // hk, dim=1)
            s_ = torch.einsum("hd,nhd->hn", q[0, :, b].double(), kk) * d ** -0.5
            ref = torch.einsum("hn,nhd->hd", s_.softmax(-1), vv)
            self.assertLess((out[0, b].double() - ref).abs().max().item(), 2e-3)


if __name__ == "__main__":
    unittest.main()
