"""flashattn as a Hugging Face transformers attention backend (transformers 5.x).

    import flashattn.transformers
    flashattn.transformers.register()            # name "flashattn"
    model = AutoModelForCausalLM.from_pretrained(..., attn_implementation="flashattn")
    model.generate_batch(inputs, generation_config)  # continuous batching: "paged|flashattn"

register(name) puts three entries into transformers' registries:

- AttentionInterface[name] = attention_forward: the regular forward. Packed
  sequences (one row, position ids restarting at 0, no mask), padded batches
  (a 2D padding mask: unpad, varlen attention, pad; no device sync), plain
  batches and generate() with a KV cache (queries at the end of the keys).
- AttentionMaskInterface[name] = transformers' flash-attention mask function,
  so that attention_forward receives the 2D padding mask or None.
- AttentionInterface["paged|" + name] = paged_attention_forward: continuous
  batching (generate_batch / ContinuousBatchingManager). It reads
  transformers' own PagedAttentionCache tensors in place through a block
  table: no gather of the cache (see paged_attention_forward).

Names that contain "flash" are special in transformers 5.x: setting such an
implementation makes transformers import a flash-attention package or a
hub kernel of that name, which fails for ours. register() therefore teaches
transformers' lazy flash import (modeling_flash_attention_utils._lazy_imports)
that the registered name needs no import; every other name goes through
unchanged. A name without "flash" (register("fa_varlen")) needs no hook, but
continuous batching then treats it like sdpa/eager (it reserves cache memory
for attention masks it never builds and does not use CUDA graphs by default).

Needs torch and transformers >= 5 (checked with 5.17.0). Forward only.
"""
import torch

from . import _api as F

__all__ = ["register", "attention_forward", "paged_attention_forward", "block_table_from_read_index", "stats",
           "DEFAULT_NAME"]

DEFAULT_NAME = "flashattn"

# How often each path ran (tests use it to prove that our code, not another implementation, computed a result).
stats = {"attention": 0, "paged": 0, "paged_prefill": 0, "paged_table": 0, "paged_sliding_gather": 0,
         "paged_decode_table": 0}


def reset_stats():
    for k in stats:
        stats[k] = 0


# ---------------------------------------------------------------- regular (non-paged) attention

class _PackedCache(object):
    """cu_seqlens and max_seqlen of the last position_ids seen: every layer of
    one forward gets the same tensor, so only the first layer computes them."""
    ids = None
    value = None


NO_SYNC = False  # packed path: True skips the one small sync (all of cu_seqlens, max = total)


def _rows(x):
    """[b, h, s, d] (transformers' layout) -> [b * s, h, d] rows for varlen_attn.
    b == 1 is a strided view (no copy: the binding passes strides through);
    b > 1 needs a copy, as in transformers' own flash path."""
    b, h, s, d = x.shape
    if b == 1:
        return x[0].transpose(0, 1)
    return x.transpose(1, 2).reshape(b * s, h, d)


def _packed_cu_seqlens(position_ids, no_sync):
    if _PackedCache.ids is position_ids:
        return _PackedCache.value
    ids = position_ids.reshape(-1)
    info = F.cu_seqlens_from_position_ids(ids if ids.is_contiguous() else ids.contiguous())
    total = ids.numel()
    if no_sync:
        value = (info.cu_seqlens, total)  # trailing sequences are empty; total bounds every length
    else:
        n, max_len = F.to_host(info.num_seqs, info.max_seqlen)
        value = (info.cu_seqlens[:n + 1], max_len)
    _PackedCache.ids, _PackedCache.value = position_ids, value
    return value


def _half_inputs(module, *xs):
    """fp16/bf16 inputs (the library's dtypes): casts float32 activations (e.g.
    from float32 norms) to the module's half dtype."""
    if xs[0].dtype in (torch.float16, torch.bfloat16):
        return xs
    target = next((p.dtype for p in module.parameters() if p.dtype in (torch.float16, torch.bfloat16)), None)
    if target is None:
        raise TypeError("flashattn computes in float16 or bfloat16; the model is in %s" % xs[0].dtype)
    return tuple(x.to(target) for x in xs)


def _window(sliding_window, causal):
    """transformers' sliding_window (tokens including the query itself) -> (left, right)."""
    if sliding_window is not None:
        return (sliding_window - 1, 0 if causal else sliding_window - 1)
    return (-1, 0) if causal else (-1, -1)


def attention_forward(module, query, key, value, attention_mask, dropout=0.0, scaling=None, sliding_window=None,
                      softcap=None, is_causal=None, s_aux=None, position_ids=None, cu_seq_lens_q=None,
                      cu_seq_lens_k=None, max_length_q=None, max_length_k=None, **kwargs):
    """transformers attention function: query [b, hq, sq, d], key/value
    [b, hk, sk, d]; returns ([b, sq, hq, d], None)."""
    stats["attention"] += 1
    if dropout and module.training:
        raise NotImplementedError("flashattn is forward-only (no dropout, no autograd)")
    b, hq, sq, d = query.shape
    sk = key.shape[2]
    query, key, value = _half_inputs(module, query, key, value)
    causal = getattr(module, "is_causal", True) if is_causal is None else is_causal
    opts = dict(scale=scaling, window_size=_window(sliding_window, causal), softcap=softcap or 0.0, sinks=s_aux)

    if attention_mask is not None:
        # padding mask [b, sk] (bool): gather, attend, scatter; no sync anywhere
        mask = attention_mask[:, -sk:].contiguous()
        info_k = F.unpad_info(mask)
        info_q = info_k if sq == sk else F.unpad_info(mask[:, -sq:].contiguous())  # left padding
        q = F.unpad(query.transpose(1, 2).contiguous(), info_q.indices, info_q.count)
        k = F.unpad(key.transpose(1, 2).contiguous(), info_k.indices, info_k.count)
        v = F.unpad(value.transpose(1, 2).contiguous(), info_k.indices, info_k.count)
        # total = b * s rows and max = s are valid host bounds: no .item()
        out = F.varlen_attn(q, k, v, info_q.cu_seqlens, info_k.cu_seqlens, sq, sk, **opts)
        return F.pad(out, info_q.indices, info_q.count, b, sq), None

    if cu_seq_lens_q is not None and cu_seq_lens_k is not None:
        # varlen kwargs given by the caller (transformers' FlashAttentionKwargs)
        cu_q, cu_k = cu_seq_lens_q.to(torch.int32), cu_seq_lens_k.to(torch.int32)
        max_q = int(max_length_q) if max_length_q is not None else b * sq
        max_k = int(max_length_k) if max_length_k is not None else b * sk
    elif position_ids is not None and b == 1 and sq == sk:
        # packed sequences: position ids restart at 0 where a sequence starts
        cu_q, max_q = _packed_cu_seqlens(position_ids, NO_SYNC)
        cu_k, max_k = cu_q, max_q
    else:
        # a plain batch: every row is one sequence (sq queries at the end of sk keys)
        dev = query.device
        cu_q = torch.arange(0, (b + 1) * sq, sq, dtype=torch.int32, device=dev)
        cu_k = torch.arange(0, (b + 1) * sk, sk, dtype=torch.int32, device=dev)
        max_q, max_k = sq, sk
    out = F.varlen_attn(_rows(query), _rows(key), _rows(value), cu_q, cu_k, max_q, max_k, **opts)
    return out.view(b, sq, hq, d), None


# ---------------------------------------------------------------- paged attention (continuous batching)

def block_table_from_read_index(read_index, cu_seqlens_k, max_seqlen_k, page_size):
    """The block table of a full-attention layer group, from transformers' read
    indices (no sync, no copy of the cache).

    transformers (generation/continuous_batching) gives, per layer group, an
    int64 read_index: for sequence b, entries cu_seqlens_k[b] ..
    cu_seqlens_k[b + 1] - 1 are the cache rows of its keys in order, and for
    full-attention groups key j sits in row block[j // page_size] * page_size +
    j % page_size (FullAttentionCacheAllocator.get_read_indices). So the page
    of key j * page_size is read_index[cu_seqlens_k[b] + j * page_size] //
    page_size. Returns (block_table int32 [batch, max_pages], seqused_k int32
    [batch]); entries past a sequence's pages are 0 (never read)."""
    batch = cu_seqlens_k.numel() - 1
    max_pages = max(1, -(-int(max_seqlen_k) // page_size))
    dev = read_index.device
    cu = cu_seqlens_k.to(torch.int64)
    starts, lens = cu[:-1], cu[1:] - cu[:-1]
    offsets = torch.arange(0, max_pages * page_size, page_size, dtype=torch.int64, device=dev)
    valid = offsets[None, :] < lens[:, None]
    pos = torch.where(valid, starts[:, None] + offsets[None, :], torch.zeros((), dtype=torch.int64, device=dev))
    pages = torch.where(valid, read_index[pos] // page_size, torch.zeros((), dtype=torch.int64, device=dev))
    del batch
    return pages.to(torch.int32), lens.to(torch.int32)


def _paged_view(cache_tensor, cache):
    """[num_rows, heads_k, head_dim] cache tensor -> [num_pages, page_size, heads_k, head_dim] view (no copy)."""
    return cache_tensor.view(-1, cache.block_size, cache.num_key_value_heads, cache.head_dim)


def paged_attention_forward(module, query, key, value, attention_mask=None, dropout=0.0, scaling=None, cache=None,
                            cu_seq_lens_q=None, cu_seq_lens_k=None, max_seqlen_q=None, max_seqlen_k=None,
                            block_table=None, read_index=None, write_index=None, softcap=None, s_aux=None,
                            num_splits=None, **kwargs):
    """transformers paged attention function ("paged|<name>").

    Receives what transformers' continuous batching passes every layer:
    query [1, hq, T, d], key/value [1, hk, T, d] (this step's tokens of every
    sequence, packed), cache (PagedAttentionCache: per layer of a group, one
    key and one value tensor [(num_blocks + 2) * block_size, hk, d], i.e.
    pages [num_blocks + 2, block_size, hk, d]), cu_seq_lens_q, cu_seq_lens_k
    and max_seqlen_k (per layer type when the model mixes full and sliding
    layers), read_index / write_index (int64 cache rows, one tensor per layer
    group), block_table (only in transformers' FA2/FA3 decode fast path).

    Full-attention layers (all of Llama's, Qwen2's without sliding window):
    - write: this step's K/V go into transformers' cache at write_index
      (index_copy_, as transformers' own cache.update does: the library is
      not asked to append, so nothing is written twice);
    - batch with no cached keys (read_index empty: fresh prompts only):
      varlen_attn on this step's K/V (causal);
    - otherwise: varlen_attn(q, key_pages, value_pages, cu_seq_lens_q, None,
      max_q, max_k, block_table=..., seqused_k=..., window_size=(-1, 0)) on
      the cache tensors themselves (views, no copy), with a block table
      derived from read_index (block_table_from_read_index), decoding rows
      and prefill chunks in one call;
    - transformers' decode fast path (block_table given): that table is used
      as it is (-1 padding is never read), cache lengths from cu_seq_lens_k.
    Sliding-window layers (Qwen2 / Gemma 2 / gpt-oss sliding layers): the
    cache of a sequence is a ring buffer of sliding_window rows whose oldest
    key sits anywhere in it, so key order does not follow pages; these layers
    use transformers' cache.update (a gather of at most sliding_window - 1 +
    new keys per sequence, the same copy transformers' paged|flash and
    paged|sdpa make) and varlen_attn with window (sliding_window - 1, 0).

    Returns ([1, T, hq, d], None). Rows of padding tokens (CUDA-graph padding)
    are not computed."""
    stats["paged"] += 1
    if cache is None:
        raise ValueError("paged|flashattn was called without a paged attention cache (continuous batching); use "
                         "the registered name without 'paged|' for a regular forward")
    if dropout and module.training:
        raise NotImplementedError("flashattn is forward-only (no dropout, no autograd)")
    query, key, value = _half_inputs(module, query, key, value)
    _, hq, total_q, d = query.shape
    scale = scaling if scaling is not None else getattr(module, "scaling", None)
    sliding = getattr(module, "sliding_window", None)
    layer_type = "sliding_attention" if sliding else "full_attention"
    if isinstance(cu_seq_lens_k, dict):
        cu_seq_lens_k = cu_seq_lens_k[layer_type]
        max_seqlen_k = max_seqlen_k[layer_type]
    opts = dict(scale=scale, softcap=softcap or 0.0, sinks=s_aux)
    q = query[0].transpose(0, 1)  # [T, hq, d], strided view
    k_new = key[0].transpose(0, 1)
    v_new = value[0].transpose(0, 1)
    cu_q = cu_seq_lens_q if cu_seq_lens_q.dtype == torch.int32 else cu_seq_lens_q.to(torch.int32)
    cu_k = cu_seq_lens_k if cu_seq_lens_k.dtype == torch.int32 else cu_seq_lens_k.to(torch.int32)
    layer = module.layer_idx
    group, in_group = cache.layer_index_to_group_indices[layer]
    k_cache, v_cache = cache.key_cache[in_group], cache.value_cache[in_group]
    max_q = max(1, int(max_seqlen_q)) if max_seqlen_q is not None else total_q

    if block_table is not None:
        # transformers' decode fast path: one new token per sequence; the table is transformers' own.
        stats["paged_decode_table"] += 1
        table = block_table[group]
        batch = table.shape[0]
        lens = (cu_k[1:batch + 1] - cu_k[:batch]).to(torch.int64)  # keys including the new one
        pos = (lens - 1).clamp(min=0)
        page = table.to(torch.int64).gather(1, (pos // cache.block_size)[:, None])[:, 0]
        rows = torch.where(lens > 0, page * cache.block_size + pos % cache.block_size,
                           torch.full_like(pos, cache.write_trash_index))
        k_cache.index_copy_(0, rows, k_new[:batch])
        v_cache.index_copy_(0, rows, v_new[:batch])
        out = F.varlen_attn(q, _paged_view(k_cache, cache), _paged_view(v_cache, cache), cu_q[:batch + 1], None,
                            1, table.shape[1] * cache.block_size, block_table=table, seqused_k=lens.to(torch.int32),
                            window_size=_window(sliding, True), num_splits=num_splits, **opts)
        return out[None], None

    reads, writes = read_index[group], write_index[group]
    if sliding:
        # ring buffer: gather the window as transformers does, then attend on the gathered rows
        stats["paged_sliding_gather"] += 1
        k, v = cache.update(key_states=key, value_states=value, layer_idx=layer, read_index=read_index,
                            write_index=write_index)
        out = F.varlen_attn(q, k, v, cu_q, cu_k, max_q, int(max_seqlen_k), window_size=(sliding - 1, 0), **opts)
        return out[None], None

    k_cache.index_copy_(0, writes, k_new)
    v_cache.index_copy_(0, writes, v_new)
    if reads.numel() == 0:
        # no cached keys in this batch: every key is one of this step's tokens
        stats["paged_prefill"] += 1
        out = F.varlen_attn(q, k_new, v_new, cu_q, cu_k, max_q, int(max_seqlen_k), window_size=(-1, 0), **opts)
        return out[None], None
    stats["paged_table"] += 1
    table, used = block_table_from_read_index(reads, cu_k, max_seqlen_k, cache.block_size)
    out = F.varlen_attn(q, _paged_view(k_cache, cache), _paged_view(v_cache, cache), cu_q, None, max_q,
                        table.shape[1] * cache.block_size, block_table=table, seqused_k=used, window_size=(-1, 0),
                        num_splits=num_splits, **opts)
    return out[None], None


# ---------------------------------------------------------------- registration

_FLASH_NAMES = set()


def _teach_flash_import(name):
    """transformers imports a flash package (or a hub kernel) for any
    implementation whose name contains "flash" (modeling_utils:
    _check_and_adjust_attn_implementation -> lazy_import_flash_attention ->
    _lazy_imports), which fails for ours. Wrap _lazy_imports once so that our
    names (with or without "paged|") import nothing; other names are passed
    through unchanged."""
    import transformers.modeling_flash_attention_utils as fau
    _FLASH_NAMES.add(name)
    if getattr(fau._lazy_imports, "_flashattn_wrapper", False):
        return
    original = fau._lazy_imports

    def _lazy_imports(implementation, *args, **kwargs):
        base = implementation[len("paged|"):] if isinstance(implementation, str) and \
            implementation.startswith("paged|") else implementation
        if base in _FLASH_NAMES:
            # no flash function to import: our attention functions are registered directly
            return None, None, None, fau._pad_input, fau._unpad_input
        return original(implementation, *args, **kwargs)

    _lazy_imports._flashattn_wrapper = True
    _lazy_imports.__wrapped__ = original
    fau._lazy_imports = _lazy_imports


def register(name=DEFAULT_NAME):
    """Register flashattn with transformers under `name` (default "flashattn").

    After it, attn_implementation=name (from_pretrained, _from_config,
    set_attn_implementation) runs attention_forward with transformers' flash
    mask function (2D padding mask or None), and "paged|" + name (continuous
    batching: generate_batch, init_continuous_batching; set automatically
    when the model's implementation is `name`) runs paged_attention_forward.
    Returns the name."""
    if not isinstance(name, str) or not name or "|" in name or "/" in name:
        raise ValueError("name must be a plain implementation name such as 'flashattn', got %r" % (name,))
    from transformers import AttentionInterface, AttentionMaskInterface
    from transformers.masking_utils import flash_attention_mask
    AttentionInterface.register(name, attention_forward)
    AttentionMaskInterface.register(name, flash_attention_mask)
    AttentionInterface.register("paged|" + name, paged_attention_forward)
    if "flash" in name:
        _teach_flash_import(name)
    return name
