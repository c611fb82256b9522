#!/usr/bin/env python3
"""Writes the seed corpus of tests/fuzz_fwd.c into tests/fuzz_corpus/, and
the regression inputs it generates into tests/fuzz_regressions/.

    python3 tests/fuzz_seeds.py [OUTDIR [REGRESSIONS_OUTDIR]]

Each seed is one call, encoded the way fuzz_fwd.c decodes its input (see
decode_fwd and the run_* functions there): valid calls on every entry point
and a few invalid ones of each class. The bytes are deterministic, so
re-running the script reproduces the committed files exactly.

The fields of 0.2 (struct_size, then fa_fwd_params' context and workspace)
follow those of 0.1, and the fields of 0.3 (decode_v03: paged cache,
append, num_splits, the 0.2 struct_size) follow them; an input that ends
before them gets the defaults (a known struct_size, no context, no
workspace, no cache fields), so the seeds of 0.1 and 0.2 are unchanged and
only the seeds that set one of them carry the tail. fa_append_kv and
fa_combine are the first bytes 0xE0 and 0xF0 (no seed of 0.2 starts with
a byte above 0x08), fa_fwd_workspace_size_max (0.4) 0xD0. fa_fwd_query_dispatch
runs after fa_fwd_query on every forward input; its info follows every
other field (DI_*), so an input without it passes a valid info.

Some inputs that found a library issue were written here as seeds; once
the issue was fixed they moved to tests/fuzz_regressions/ (README.md there
says what each one caught): regressions() builds them, and main() writes
them there, next to the regression inputs that the fuzzer found (which are
committed as they are, not generated). Both sets are replayed by `ninja
sanitize-test`.
"""
import os
import struct
import sys

# Entry points: the first byte, modulo 9 below 0xE0.
OP_FWD, OP_QUERY, OP_WITH_KERNEL, OP_INFO = 0, 2, 3, 4
OP_UNPAD_INFO, OP_ROWS, OP_POSITION_IDS, OP_COPY = 5, 6, 7, 8
OP_APPEND_KV, OP_COMBINE = 0xE0, 0xF0
OP_WORKSPACE_MAX = 0xD0  # 0.4: fa_fwd_workspace_size_max (first bytes 0xD0-0xDF)

# Head dims by position in the table (32, 64, 80, 96, 128, 192, 256 today).
DIM32, DIM64, DIM80, DIM96, DIM128, DIM192, DIM256 = range(7)

# Pointer modes (fz_ptr): normal, NULL, misaligned, valid shifted view.
P_OK, P_NULL, P_MIS, P_SHIFT = 0x00, 0xE0, 0xE9, 0xF0


def u32(v):
    return struct.pack("<I", v & 0xFFFFFFFF)


def u64(v):
    return struct.pack("<Q", v & 0xFFFFFFFFFFFFFFFF)


# struct_size (fz_struct_size): sizeof below 0xE0, else by the low 3 bits.
SS_OK, SS_ZERO, SS_NEWER, SS_OLDER = b"\x00", b"\xE0", b"\xE1", b"\xE2"


def ss_random(v):
    return b"\xE6" + u32(v)


# fa_fwd_params.context (decode_v02): none below 0xC0, a CPU context from
# fa_context_init up to 0xDF, broken above.
CTX_NONE, CTX_CPU = b"\x00", b"\xC0"
CTX_SIZE_ZERO, CTX_SIZE_NEWER, CTX_CPU_ON_CUDA_CALL = b"\xE0", b"\xE1", b"\xE3"
CTX_CUDA, CTX_SIZE_OLDER, CTX_UNINITIALIZED = b"\xE4", b"\xE6", b"\xE7"


def ctx_size(v):
    return b"\xE2" + u32(v)


def ctx_backend(v):
    return b"\xE5" + u32(v)


# fa_fwd_params.workspace (decode_v02): none below 0xB0; none, with
# fa_fwd_workspace_size given bytes == NULL, up to 0xBF; else by the low 3 bits.
WS_NONE, WS_SIZE_OUT_NULL = b"\x00", b"\xB0"
WS_NULL_HUGE, WS_MISALIGNED_16, WS_EMPTY, WS_256, WS_MISALIGNED_EMPTY = b"\xC1", b"\xC3", b"\xC4", b"\xC5", b"\xC7"


def ws_null(v):
    """NULL workspace, workspace_bytes 1 + v."""
    return b"\xC0" + bytes([v])


def ws_misaligned(v):
    """Shifted 1 + v % 255 bytes from a 256-byte boundary, 64 bytes."""
    return b"\xC2" + bytes([v])


def ws_aligned(v):
    """256-byte aligned, 16 * (1 + v) bytes."""
    return b"\xC6" + bytes([v])


def tail(struct_size, ctx, ws):
    """The 0.2 fields of a forward input: nothing when all are defaults."""
    if struct_size is None and ctx is None and ws is None:
        return b""
    return (struct_size or SS_OK) + (ctx or CTX_NONE) + (ws or WS_NONE)


def v03(paged=None, append=None, splits=None, old_layout=0, max_k=None, seqused=None, seqused_ptr=P_OK,
        table_ptr=P_OK, keep_cu_k=False, varlen_k=False, varlen_q=False, kv_strides=None, new_ptrs=(P_OK, P_OK),
        new_strides=None, new_batch=None, garbage_seed=None):
    """The 0.3 fields of a forward input (decode_v03), after the 0.2 ones.

    paged: dict(page_size=byte, max_pages=byte, stride=byte, num_pages=byte,
    table_mode=byte, table_seed=int, bad_col=byte or None); append: True
    (new_batch: the batch-stride bytes of k_new and v_new, as decoded);
    splits: the bytes of fz_i32; max_k: fz_i32 byte (with a cache, or an
    append to a dense cache); seqused: fz_i32 bytes per sequence.
    """
    mode = (1 if paged else 0) | (2 if append else 0) | (4 if splits is not None else 0) | (old_layout << 3)
    b = bytes([mode])
    if paged or (append and not varlen_k):
        b += max_k
    if paged:
        b += paged["page_size"] + paged["max_pages"] + paged.get("stride", b"\x00") + paged["num_pages"]
        b += bytes([table_ptr])
        if varlen_k:
            b += b"\xF0" if keep_cu_k else b"\x00"
        for t in range(2):
            s = kv_strides[t] if kv_strides else (b"\x00", b"\x00", b"\x00")
            b += s[0] + s[1] + s[2]
    if append:
        for t in range(2):
            s = new_strides[t] if new_strides else (b"\x00", b"\x00", b"\x00")
            batch = new_batch[t] if new_batch else (b"\x00" if varlen_q else s[2])
            b += bytes([new_ptrs[t]]) + s[0] + s[1] + batch
    if paged or append:
        b += bytes([seqused_ptr])
        if seqused_ptr != P_NULL:
            b += b"".join(seqused)
    if paged and paged.get("table_mode") is not None:
        b += bytes([paged["table_mode"]]) + u64(paged.get("table_seed", 77))
        if paged["table_mode"] & 0xF0 == 0xF0:
            b += paged["bad_col"]
    if splits is not None:
        b += splits
    if garbage_seed is not None:
        b += u64(garbage_seed)
    return b


# fa_fwd_query_dispatch's info (0.4), after every older field of a forward
# input: a mode byte (0xF8 and up: info NULL), then its struct_size.
DI_OK, DI_NULL = b"\x00" + SS_OK, b"\xF8" + SS_OK
DI_SIZE_ZERO, DI_SIZE_NEWER, DI_SIZE_OLDER = b"\x00" + SS_ZERO, b"\x00" + SS_NEWER, b"\x00" + SS_OLDER
# fa_fwd_params.launch_flags (0.4), after the info: 0 or FA_LAUNCH_NO_PDL
# below 0xF0, else the 32 bits that follow.
LF_NO_PDL = b"\x01"


def lf_bits(v):
    return b"\xF0" + u32(v)


def small(v):
    """fz_i32 typical value lo + v (v < 0xC0)."""
    assert 0 <= v < 0xC0
    return bytes([v])


def hostile_i32(kind, extra=b""):
    """fz_i32 hostile value of kind 0..15 (see fz_i32)."""
    return bytes([0xC0 | kind]) + extra


def fwd(op=OP_FWD, varlen=True, lse=True, sinks=False, seqused=False, msg_null=False,
        backend=0x00, dtype_fp16=False, batch=1, heads_k=1, group=1, dim=DIM64,
        lens=((5, 7),), max_slack=(0, 0), cu_modes=(P_OK, P_OK), corrupt=b"\x00",
        totals=(b"\x00", b"\x00"), dense_lens=(8, 9), strides=None,
        scale=b"\x00", softcap=b"\x00", window=(b"\x00", b"\x00"),
        ptrs=(P_OK, P_OK, P_OK, P_OK), small_ptrs=(P_OK, P_OK, P_OK), seqused_vals=(),
        fill=0, seed=12345, specials=(), kernel=b"\x00", raw_batch=None, raw_heads=None,
        struct_size=None, ctx=None, ws=None, tail03=None, dispatch=None, launch=None):
    flags = (1 if varlen else 0) | (2 if lse else 0) | (4 if sinks else 0) | (8 if seqused else 0)
    flags |= 0x10 if msg_null else 0
    b = bytes([op, flags, backend, 1 if dtype_fp16 else 0])
    b += raw_batch if raw_batch is not None else small(batch - 1)
    b += small(heads_k - 1)
    b += raw_heads if raw_heads is not None else small(group - 1)
    b += dim if isinstance(dim, bytes) else bytes([dim])
    if varlen:
        for lq, lk in lens:
            b += bytes([lq, lk])
        b += small(max_slack[0]) + small(max_slack[1])
        b += bytes(cu_modes)
        b += corrupt
        b += totals[0] + totals[1]
    else:
        b += small(dense_lens[0]) + small(dense_lens[1])
        b += b"\x00"  # no stray totals
    # strides: per tensor head, row, batch (varlen: a byte < 0xF0 keeps batch 0)
    for t in range(4):
        s = strides[t] if strides else (b"\x00", b"\x00", b"\x00")
        b += s[0] + s[1] + (b"\x00" if varlen else s[2])
    b += scale + softcap + window[0] + window[1]
    b += bytes(ptrs) + bytes(small_ptrs)
    b += b"".join(seqused_vals)
    b += bytes([fill]) + u64(seed)
    if fill % 8 == 6:
        b += bytes([len(specials) - 1])
        for tensor, at, kind in specials:
            b += bytes([(kind << 4) | tensor]) + u32(at)
    if op == OP_WITH_KERNEL:
        b += kernel
    if launch is not None and dispatch is None:
        dispatch = DI_OK
    if dispatch is not None and tail03 is None:
        tail03 = v03()
    if tail03 is not None:
        return b + (struct_size or SS_OK) + (ctx or CTX_NONE) + (ws or WS_NONE) + tail03 + (dispatch or b"") + \
            (launch or b"")
    return b + tail(struct_size, ctx, ws)


def win(v):
    """fz_window: -1 below 0x60, else v in 0..23."""
    return bytes([0x60 + v]) if v >= 0 else b"\x00"


PAD = bytes([0xA1])  # fz_stride: padded (need + 8)


def build():
    """(seeds, regressions): name -> bytes."""
    s, r = {}, {}
    s["fwd_varlen_gqa_causal_lse"] = fwd(batch=2, heads_k=2, group=2, lens=((5, 7), (3, 3)),
                                         window=(b"\x00", win(0)))
    s["fwd_varlen_sinks_softcap_local"] = fwd(batch=3, heads_k=1, group=3, sinks=True, dim=DIM32,
                                              lens=((9, 20), (0, 4), (4, 0)), max_slack=(2, 1),
                                              softcap=bytes([0xA0 + 20]), window=(win(3), win(2)),
                                              totals=(b"\x02", b"\x01"))
    s["fwd_dense_fp16_seqused"] = fwd(varlen=False, dtype_fp16=True, batch=2, heads_k=2, group=2,
                                      dim=DIM128, dense_lens=(6, 11), seqused=True,
                                      seqused_vals=(small(11), small(3)))
    s["fwd_varlen_padded_strides"] = fwd(batch=2, heads_k=2, group=1, dim=DIM80,
                                         lens=((4, 6), (2, 9)),
                                         strides=[(PAD, PAD, b"")] * 4)
    s["fwd_dense_padded_batch_stride"] = fwd(varlen=False, batch=2, dim=DIM96, dense_lens=(3, 5),
                                             strides=[(PAD, PAD, PAD)] * 4, scale=bytes([0x80 + 40]))
    s["fwd_overlapping_head_views"] = fwd(batch=1, heads_k=2, group=2, dim=DIM32, lens=((3, 3),),
                                          strides=[(bytes([0xC1]), b"\x00", b"")] * 4)
    s["fwd_nan_inf_inputs"] = fwd(batch=2, lens=((6, 8), (5, 5)), window=(b"\x00", win(0)), fill=6,
                                  specials=((0, 77, 0), (1, 1234, 2), (2, 999, 1)))
    s["fwd_large_values"] = fwd(batch=1, lens=((4, 30),), fill=4)
    s["fwd_raw_bits"] = fwd(batch=1, dtype_fp16=True, lens=((4, 10),), fill=7, sinks=True)
    s["fwd_cuda_backend"] = fwd(backend=0xF0)
    s["fwd_message_null_valid"] = fwd(msg_null=True)
    s["query_big_valid"] = fwd(op=OP_QUERY, varlen=False, batch=4, heads_k=3, group=4, dim=DIM256,
                               dense_lens=(40, 48))
    s["with_kernel_local_for_causal"] = fwd(op=OP_WITH_KERNEL, window=(b"\x00", win(0)), kernel=b"\x01")
    s["with_kernel_out_of_range"] = fwd(op=OP_WITH_KERNEL, kernel=b"\xE0")
    s["info_valid"] = bytes([OP_INFO, 0x00, 5])
    s["info_null"] = bytes([OP_INFO, 0x04, 5])
    s["info_huge_index"] = bytes([OP_INFO, 0x03, 0])
    # 0.2: info->struct_size (after the index); the order is info NULL, size, index
    s["info_v02_struct_size_zero"] = bytes([OP_INFO, 0x00, 5]) + SS_ZERO
    s["info_v02_struct_size_newer"] = bytes([OP_INFO, 0x00, 5]) + SS_NEWER
    s["info_v02_struct_size_random"] = bytes([OP_INFO, 0x00, 5]) + ss_random(40)
    s["info_v02_null_and_bad_size"] = bytes([OP_INFO, 0x04, 5]) + SS_ZERO
    s["info_v02_out_of_range_and_bad_size"] = bytes([OP_INFO, 0x01, 3]) + SS_OLDER
    # invalid calls
    s["bad_misaligned_q"] = fwd(ptrs=(P_MIS, P_OK, P_OK, P_OK))
    s["bad_null_out"] = fwd(ptrs=(P_OK, P_OK, P_OK, P_NULL))
    s["bad_misaligned_lse"] = fwd(small_ptrs=(0xE9, P_OK, P_OK))
    s["bad_negative_stride"] = fwd(strides=[(b"\x00", bytes([0xD1]), b"")] + [(b"\x00",) * 3] * 3)
    s["bad_odd_stride"] = fwd(strides=[(bytes([0xD0]), b"\x00", b"")] + [(b"\x00",) * 3] * 3)
    # (a dense call with q_row_stride 2^62 is tests/fuzz_regressions/api_default_batch_stride_overflow)
    s["bad_nan_scale"] = fwd(scale=bytes([0xF0]))
    s["bad_negative_softcap"] = fwd(softcap=bytes([0xFD]))
    s["bad_window"] = fwd(window=(bytes([0xF0]), b"\x00"))
    s["bad_cu_seqlens_decreasing"] = fwd(batch=3, lens=((3, 3), (4, 4), (5, 5)), corrupt=b"\xD2\x02")
    s["bad_total_too_small"] = fwd(batch=2, lens=((3, 3), (4, 4)), totals=(bytes([0xC1]), b"\x00"))
    s["bad_head_dim_72"] = fwd(dim=bytes([0xE0, 64]))  # fz_i32(8, 520): 8 + 64
    s["bad_heads_not_divisible"] = fwd(heads_k=2, raw_heads=hostile_i32(12))  # num_heads_q 5
    s["bad_batch_int_max"] = fwd(varlen=False, raw_batch=hostile_i32(3), dense_lens=(0, 0))
    s["bad_half_varlen"] = fwd(cu_modes=(P_NULL, P_OK))
    s["bad_seqused_too_big"] = fwd(seqused=True, seqused_vals=(hostile_i32(12),))
    # 0.2: struct_size, context, workspace, fa_fwd_workspace_size
    s["fwd_v02_cpu_context"] = fwd(batch=2, heads_k=2, group=2, lens=((5, 7), (3, 3)), ctx=CTX_CPU)
    s["fwd_v02_aligned_workspace"] = fwd(window=(b"\x00", win(0)), ws=ws_aligned(15))
    s["fwd_v02_context_workspace_dense"] = fwd(varlen=False, dtype_fp16=True, batch=2, dim=DIM128,
                                               dense_lens=(6, 11), ctx=CTX_CPU, ws=WS_256)
    s["fwd_v02_empty_aligned_workspace"] = fwd(ws=WS_EMPTY)
    s["query_v02_workspace_size_bytes_null"] = fwd(op=OP_QUERY, ws=WS_SIZE_OUT_NULL)
    s["with_kernel_v02_context_workspace"] = fwd(op=OP_WITH_KERNEL, window=(b"\x00", win(0)), kernel=b"\x01",
                                                 ctx=CTX_CPU, ws=ws_aligned(3))
    s["bad_struct_size_zero"] = fwd(struct_size=SS_ZERO)
    s["bad_struct_size_newer"] = fwd(struct_size=SS_NEWER)
    s["bad_struct_size_older"] = fwd(varlen=False, struct_size=SS_OLDER)
    # every other field broken too: FA_ERR_STRUCT_SIZE alone
    s["bad_struct_size_random_and_all_else"] = fwd(ptrs=(P_MIS, P_NULL, P_OK, P_OK), scale=bytes([0xF0]),
                                                   window=(bytes([0xF0]), b"\x00"), struct_size=ss_random(0x1234),
                                                   ctx=CTX_UNINITIALIZED, ws=ws_misaligned(6))
    s["query_bad_struct_size_newer"] = fwd(op=OP_QUERY, struct_size=SS_NEWER)
    s["query_bad_struct_size_and_bytes_null"] = fwd(op=OP_QUERY, struct_size=SS_ZERO, ws=WS_SIZE_OUT_NULL)
    s["with_kernel_bad_struct_size"] = fwd(op=OP_WITH_KERNEL, kernel=b"\x01", struct_size=SS_OLDER)
    s["with_kernel_bad_struct_size_out_of_range"] = fwd(op=OP_WITH_KERNEL, kernel=b"\xE0", struct_size=SS_ZERO)
    s["bad_context_size_zero"] = fwd(ctx=CTX_SIZE_ZERO)
    s["bad_context_size_newer"] = fwd(ctx=CTX_SIZE_NEWER)
    s["bad_context_size_older"] = fwd(varlen=False, ctx=CTX_SIZE_OLDER)
    s["bad_context_size_random"] = fwd(ctx=ctx_size(0xDEADBEEF))
    s["bad_context_uninitialized"] = fwd(ctx=CTX_UNINITIALIZED)
    s["bad_context_cpu_on_cuda_call"] = fwd(ctx=CTX_CPU_ON_CUDA_CALL)
    s["bad_context_cuda_on_cpu_call"] = fwd(ctx=CTX_CUDA)
    s["bad_context_backend_garbage"] = fwd(ctx=ctx_backend(7))
    s["bad_workspace_null_with_bytes"] = fwd(ws=ws_null(63))
    s["bad_workspace_null_huge"] = fwd(varlen=False, ws=WS_NULL_HUGE)
    s["bad_workspace_misaligned"] = fwd(ws=ws_misaligned(6))
    s["bad_workspace_misaligned_16"] = fwd(ws=WS_MISALIGNED_16)
    s["bad_workspace_misaligned_empty"] = fwd(op=OP_QUERY, ws=WS_MISALIGNED_EMPTY)
    s["bad_workspace_and_context"] = fwd(ctx=CTX_CUDA, ws=ws_null(0))
    # 0.3: paged KV cache (decode_v03), on every forward entry point
    def pg(page_size, max_pages, num_pages, stride=b"\x00", table_mode=0, table_seed=77, bad_col=None):
        return dict(page_size=page_size, max_pages=max_pages, stride=stride, num_pages=num_pages,
                    table_mode=table_mode, table_seed=table_seed, bad_col=bad_col)
    PS1, PS3, PS16, PS256 = b"\x00", b"\x02", b"\x05", b"\x07"  # fz_page_size
    SHARED = 0x80  # fz_num_pages: 1 + v % columns (pages shared)
    # dense q (3 rows), 2 sequences of up to 20 keys in pages of 16, distinct pages
    s["fwd_v03_paged_dense_ps16"] = fwd(varlen=False, batch=2, heads_k=2, group=2, dense_lens=(3, 9),
                                        tail03=v03(paged=pg(PS16, small(1), small(2)), max_k=small(20),
                                                   seqused=(small(17), small(9))))
    # varlen q, cu_seqlens_k dropped, pages of 1 key, padded table rows, random pages, causal
    s["fwd_v03_paged_varlen_ps1_causal"] = fwd(batch=2, heads_k=2, group=2, lens=((4, 6), (2, 9)),
                                               window=(b"\x00", win(0)),
                                               tail03=v03(paged=pg(PS1, small(0), bytes([0x7F]), stride=PAD,
                                                                   table_mode=1),
                                                          max_k=small(12), varlen_k=True, varlen_q=True,
                                                          seqused=(small(10), small(5))))
    # pages of 3 keys from a small pool (shared pages), padded page strides, garbage in unused entries, local
    s["fwd_v03_paged_ps3_shared_pool"] = fwd(varlen=False, batch=3, dim=DIM32, dense_lens=(4, 9),
                                             window=(win(5), win(1)),
                                             tail03=v03(paged=pg(PS3, small(2), bytes([SHARED + 3]), table_mode=6),
                                                        max_k=small(14), kv_strides=[(PAD, PAD, PAD)] * 2,
                                                        seqused=(small(14), small(7), small(1))))
    # pages far larger than any sequence, sinks and softcap
    s["fwd_v03_paged_page_larger_than_seq"] = fwd(varlen=False, batch=2, sinks=True, dim=DIM32, dense_lens=(2, 9),
                                                  softcap=bytes([0xA0 + 20]),
                                                  tail03=v03(paged=pg(PS256, small(1), small(1), table_mode=3),
                                                             max_k=small(10), seqused=(small(10), small(0))))
    s["query_v03_paged"] = fwd(op=OP_QUERY, varlen=False, batch=2, dense_lens=(3, 9),
                               tail03=v03(paged=pg(PS16, small(0), small(0)), max_k=small(20),
                                          seqused=(small(20), small(3))))
    s["with_kernel_v03_paged_local_kernel"] = fwd(op=OP_WITH_KERNEL, window=(b"\x00", win(0)), kernel=b"\x01",
                                                  tail03=v03(paged=pg(PS3, small(1), small(1)), max_k=small(9),
                                                             varlen_k=True, varlen_q=True, seqused=(small(8),)))
    # 0.3: append (k_new, v_new written at seqused_k[b] .. + Lq - 1, then attention over them)
    s["fwd_v03_append_dense_cache"] = fwd(varlen=False, batch=2, heads_k=2, group=2, dense_lens=(3, 9),
                                          window=(b"\x00", win(0)),
                                          tail03=v03(append=True, max_k=small(9), seqused=(small(4), small(9))))
    s["fwd_v03_append_varlen_contiguous"] = fwd(batch=2, lens=((2, 9), (3, 5)), dtype_fp16=True,
                                                tail03=v03(append=True, varlen_k=True, varlen_q=True,
                                                           new_strides=[(PAD, PAD, b"")] * 2,
                                                           seqused=(small(7), small(1))))
    s["fwd_v03_append_paged_ps3"] = fwd(varlen=False, batch=3, heads_k=1, group=2, dense_lens=(2, 9),
                                        tail03=v03(append=True, paged=pg(PS3, small(0), small(0)), max_k=small(10),
                                                   seqused=(small(10), small(0), small(5))))
    # two sequences appending into one shared page: the harness compares only what one write hit
    s["fwd_v03_append_paged_shared_pages"] = fwd(varlen=False, batch=2, dense_lens=(2, 9),
                                                 tail03=v03(append=True, paged=pg(PS16, small(0), bytes([SHARED]),
                                                                                   table_mode=2),
                                                            max_k=small(6), seqused=(small(3), small(5))))
    s["query_v03_append_paged"] = fwd(op=OP_QUERY, varlen=False, batch=2, dense_lens=(2, 9),
                                      tail03=v03(append=True, paged=pg(PS1, small(0), small(0)), max_k=small(6),
                                                 seqused=(small(3), small(4))))
    s["append_kv_v03_paged_q_out_null"] = fwd(op=OP_APPEND_KV, batch=2, lens=((3, 6), (1, 2)),
                                              ptrs=(P_NULL, P_OK, P_OK, P_NULL),
                                              tail03=v03(append=True, paged=pg(PS16, small(0), small(1)),
                                                         max_k=small(12), varlen_k=True, varlen_q=True,
                                                         seqused=(small(9), small(16))))
    s["append_kv_v03_dense_cache"] = fwd(op=OP_APPEND_KV, varlen=False, batch=2, heads_k=3, dim=DIM128,
                                         dense_lens=(4, 9), dtype_fp16=True,
                                         tail03=v03(append=True, max_k=small(6), seqused=(small(0), small(6))))
    s["append_kv_v03_varlen_padded_strides"] = fwd(op=OP_APPEND_KV, batch=2, heads_k=2, lens=((2, 9), (3, 5)),
                                                   tail03=v03(append=True, varlen_k=True, varlen_q=True,
                                                              new_strides=[(PAD, PAD, b"")] * 2,
                                                              seqused=(small(7), small(2))))
    # 0.3: num_splits (0..256 valid; the CPU ignores it)
    s["fwd_v03_num_splits_1"] = fwd(tail03=v03(splits=small(1)))
    s["fwd_v03_num_splits_256"] = fwd(varlen=False, tail03=v03(splits=hostile_i32(6, b"\x08")))
    s["bad_num_splits_257"] = fwd(tail03=v03(splits=hostile_i32(12)))
    s["bad_num_splits_negative"] = fwd(op=OP_QUERY, tail03=v03(splits=hostile_i32(0)))
    # 0.3: a caller of 0.2 (struct_size 272): the cache fields past it are ignored, whatever they hold
    s["fwd_v03_struct_size_v02_ignores_cache_fields"] = fwd(
        varlen=False, batch=2, dense_lens=(3, 9),
        tail03=v03(paged=pg(PS3, small(0), small(0), table_mode=0xF0, bad_col=small(0)), append=True,
                   splits=hostile_i32(12), old_layout=1, max_k=small(9), seqused=(small(6), small(2))))
    s["fwd_v03_struct_size_v02_exact_block"] = fwd(varlen=False, batch=2, dense_lens=(3, 9),
                                                   tail03=v03(append=True, old_layout=2, max_k=small(9),
                                                              seqused=(small(4), small(1))))
    s["fwd_v03_struct_size_v02_garbage"] = fwd(tail03=v03(splits=hostile_i32(0), old_layout=3, garbage_seed=99))
    s["query_v03_struct_size_v02"] = fwd(op=OP_QUERY, tail03=v03(old_layout=2))
    # (k_new / v_new lie past byte 272: fa_append_kv of a 0.2 caller has no rows to write)
    s["bad_append_kv_struct_size_v02"] = fwd(op=OP_APPEND_KV, varlen=False, dense_lens=(2, 9),
                                             tail03=v03(append=True, old_layout=1, max_k=small(4),
                                                        seqused=(small(3),)))
    # invalid cache calls
    s["bad_paged_page_out_of_the_pool"] = fwd(varlen=False, batch=2, dense_lens=(3, 9),
                                              tail03=v03(paged=pg(PS3, small(0), small(0), table_mode=0xF4,
                                                                  bad_col=small(3)),
                                                         max_k=small(9), seqused=(small(5), small(9))))
    s["bad_paged_negative_page"] = fwd(varlen=False, batch=2, dense_lens=(3, 9),
                                       tail03=v03(paged=pg(PS16, small(0), small(0), table_mode=0xF0,
                                                           bad_col=small(1)),
                                                  max_k=small(9), seqused=(small(5), small(9))))
    s["bad_paged_seqused_null"] = fwd(varlen=False, dense_lens=(3, 9),
                                      tail03=v03(paged=pg(PS16, small(0), small(0)), max_k=small(9),
                                                 seqused_ptr=P_NULL))
    s["bad_paged_cu_seqlens_k_kept"] = fwd(tail03=v03(paged=pg(PS16, small(0), small(0)), max_k=small(9),
                                                      varlen_k=True, keep_cu_k=True, varlen_q=True,
                                                      seqused=(small(7),)))
    s["bad_paged_table_too_narrow"] = fwd(varlen=False, dense_lens=(3, 9),
                                          tail03=v03(paged=pg(PS3, hostile_i32(13), small(0)), max_k=small(9),
                                                     seqused=(small(4),)))
    s["bad_paged_table_stride_narrow"] = fwd(varlen=False, batch=2, dense_lens=(3, 9),
                                             tail03=v03(paged=pg(PS3, small(1), small(0), stride=b"\xC0",
                                                                 table_mode=None),
                                                        max_k=small(9), seqused=(small(4), small(4))))
    s["bad_paged_page_size_zero"] = fwd(varlen=False, dense_lens=(3, 9),
                                        tail03=v03(paged=pg(b"\xC0", small(0), small(0), table_mode=None),
                                                   max_k=small(9), seqused=(small(4),)))
    s["bad_paged_capacity_overflow"] = fwd(varlen=False, dense_lens=(3, 9),
                                           tail03=v03(paged=pg(PS16, hostile_i32(3), small(0), table_mode=None),
                                                      max_k=small(9), seqused=(small(4),)))
    s["bad_paged_table_misaligned"] = fwd(varlen=False, dense_lens=(3, 9),
                                          tail03=v03(paged=pg(PS16, small(0), small(0)), table_ptr=0xE9,
                                                     max_k=small(9), seqused=(small(4),)))
    s["bad_paged_keys_past_max_seqlen_k"] = fwd(varlen=False, batch=2, dense_lens=(3, 9),
                                                tail03=v03(paged=pg(PS3, small(0), small(0)), max_k=small(9),
                                                           seqused=(small(2), hostile_i32(12))))
    s["bad_append_v_new_null"] = fwd(varlen=False, dense_lens=(3, 9),
                                     tail03=v03(append=True, new_ptrs=(P_OK, P_NULL), max_k=small(9),
                                                seqused=(small(4),)))
    s["bad_append_seqused_null"] = fwd(varlen=False, dense_lens=(3, 9),
                                       tail03=v03(append=True, max_k=small(9), seqused_ptr=P_NULL))
    s["bad_append_past_the_sequence"] = fwd(varlen=False, batch=2, dense_lens=(3, 9),
                                            tail03=v03(append=True, max_k=small(9),
                                                       seqused=(small(1), hostile_i32(12))))
    s["bad_append_kv_past_the_pages"] = fwd(op=OP_APPEND_KV, varlen=False, dense_lens=(3, 9),
                                            tail03=v03(append=True, paged=pg(PS3, small(0), small(0)),
                                                       max_k=small(9), seqused=(hostile_i32(12),)))
    s["bad_append_kv_without_new_rows"] = fwd(op=OP_APPEND_KV, ptrs=(P_NULL, P_OK, P_OK, P_NULL))
    s["bad_append_kv_batch_stride_varlen"] = fwd(op=OP_APPEND_KV, lens=((3, 8),),
                                                 tail03=v03(append=True, varlen_k=True, varlen_q=True,
                                                            new_batch=(b"\xF0" + PAD, b"\x00"),
                                                            seqused=(small(2),)))
    s["append_kv_v03_cuda_backend"] = fwd(op=OP_APPEND_KV, backend=0xF0, varlen=False, dense_lens=(3, 9),
                                          tail03=v03(append=True, max_k=small(9), seqused=(small(4),)))
    # regression: a dense call of batch 1 with a batch stride was rejected as varlen (fixed in de2f7c6)
    r["fwd_dense_batch1_batch_stride"] = fwd(varlen=False, dense_lens=(3, 9),
                                             strides=[(b"\x00", b"\x00", PAD)] + [(b"\x00",) * 3] * 3)
    s["fwd_v03_paged_cuda_backend"] = fwd(backend=0xF0, varlen=False, dense_lens=(3, 9),
                                          tail03=v03(paged=pg(PS16, small(0), small(0)), append=True, max_k=small(9),
                                                     seqused=(small(4),)))

    # 0.3: fa_combine (run_combine)
    def combine(flags=0x06, backend=0, dtype=2, parts=3, heads=2, dim=7, rows=5, strides=(b"\x00",) * 8,
                ptrs=(P_OK,) * 5, fill=0x00, seed=5, special=None, fits=True, struct_size=b""):
        """parts: 1 + v (v < 0xC0) or a byte >= 0xC0; dim: the fz byte (7: 64); rows: 0..11."""
        b = bytes([OP_COMBINE, flags, backend, dtype]) + (bytes([parts - 1]) if parts <= 8 else bytes([parts]))
        b += small(heads - 1) + bytes([dim]) + bytes([rows]) + b"".join(strides) + bytes(ptrs) + bytes([fill])
        if fits:
            b += u64(seed)
            if fill & 0xC0 == 0xC0:
                b += special
        return b + struct_size
    FP16, BF16, FP32 = 0, 1, 2
    SINKS, LSE = 0x02, 0x04
    s["combine_fp32_lse"] = combine(flags=LSE)
    s["combine_bf16_sinks_empty_parts"] = combine(flags=SINKS | LSE, dtype=BF16, parts=5, fill=0x11)
    s["combine_fp16_empty_rows_sink"] = combine(flags=SINKS | LSE, dtype=FP16, heads=3, dim=3, rows=7, fill=0x36)
    s["combine_fp16_empty_rows_no_sink"] = combine(flags=LSE, dtype=FP16, rows=4, fill=0x30)
    s["combine_padded_strides"] = combine(flags=LSE, dtype=BF16, strides=(PAD,) * 8)
    s["combine_overlapping_out_heads"] = combine(flags=LSE, dtype=FP32, strides=(b"\x00",) * 5 + (b"\xC1",) +
                                                 (b"\x00",) * 2)
    s["combine_256_parts"] = combine(flags=LSE, parts=0xC2, heads=1, dim=0, rows=2, fill=0x12)
    s["combine_head_dim_512"] = combine(flags=SINKS, dtype=BF16, parts=2, heads=1, dim=0x80 + 63, rows=2)
    s["combine_one_part"] = combine(flags=LSE, parts=1, rows=3, fill=0x03)
    s["combine_large_lse"] = combine(flags=SINKS | LSE, parts=4, fill=0x0B)
    s["combine_rows_zero"] = combine(flags=LSE, rows=0)
    s["combine_nan_part_with_sink"] = combine(flags=SINKS | LSE, parts=2, rows=3, fill=0xC0,
                                              special=b"\x00" + u32(7 * 1 + 0))
    s["combine_nan_output"] = combine(flags=LSE, parts=2, rows=3, fill=0xC0, special=b"\x10" + u32(13 * 5))
    s["combine_message_null"] = combine(flags=0x01 | LSE)
    s["combine_cuda_backend"] = combine(backend=0xF0)
    s["bad_combine_parts_zero"] = combine(parts=0xC0, fits=False)
    s["bad_combine_parts_257"] = combine(parts=0xC3, fits=False)
    s["bad_combine_head_dim_12"] = combine(dim=0xC2, fits=False)
    s["bad_combine_head_dim_520"] = combine(dim=0xC3, fits=False)
    s["bad_combine_out_stride_not_8_for_16bit"] = combine(dtype=FP16, strides=(b"\x00",) * 5 + (b"\xD9",) +
                                                          (b"\x00",) * 2, fits=False)
    s["bad_combine_parts_stride_not_4"] = combine(strides=(b"\xD8",) + (b"\x00",) * 7, fits=False)
    s["bad_combine_negative_lse_stride"] = combine(strides=(b"\x00",) * 3 + (b"\xD1",) + (b"\x00",) * 4,
                                                   fits=False)
    s["bad_combine_misaligned_out_parts"] = combine(ptrs=(0xE9, P_OK, P_OK, P_OK, P_OK), fits=False)
    s["bad_combine_misaligned_lse"] = combine(flags=LSE, ptrs=(P_OK, P_OK, P_OK, P_OK, 0xE9), fits=False)
    s["bad_combine_lse_parts_null"] = combine(ptrs=(P_OK, P_NULL, P_OK, P_OK, P_OK), fits=False)
    s["bad_combine_dtype"] = bytes([OP_COMBINE, 0x04, 0, 0xF0]) + u32(7) + bytes([2, 1, 7, 5]) + bytes(8) + \
        bytes(5) + b"\x00"
    s["bad_combine_out_parts_span"] = combine(strides=(b"\x00", b"\x00", b"\xD2") + (b"\x00",) * 5, fits=False)
    s["bad_combine_params_null"] = combine(flags=0xE0, fits=False)
    s["bad_combine_struct_size_newer"] = combine(struct_size=SS_NEWER)
    s["bad_combine_struct_size_and_parts"] = combine(parts=0xC0, fits=False, struct_size=SS_ZERO)
    # regressions (fixed in de2f7c6; tests/fuzz_regressions/README.md)
    r["combine_part_order"] = combine(flags=LSE, dtype=FP32, parts=4, rows=3, fill=0x01)
    r["combine_nan_part_alone"] = combine(flags=LSE, parts=1, heads=1, rows=1, fill=0xC0, special=b"\x00" + u32(0))
    r["combine_default_stride_overflow"] = combine(strides=(b"\xDB",) + (b"\x00",) * 7, fits=False)
    r["combine_lse_stride_overflow"] = combine(parts=0xC2, strides=(b"\x00",) * 4 + (b"\xD2",) + (b"\x00",) * 3,
                                               fits=False)
    # mask helpers
    # (struct_size: the last byte, after the contents, which only a call that
    # is valid and small enough reads: fill=False leaves them out)
    def unpad_info(flags=0, backend=0, dtype=0, batch=3, seqlen=10, ptrs=(P_OK,) * 4, mode=1, seed=7,
                   fill=True, struct_size=b""):
        return bytes([OP_UNPAD_INFO, flags, backend, dtype]) + small(batch - 1) + small(seqlen - 1) + \
            bytes(ptrs) + (bytes([mode]) + u64(seed) if fill else b"") + struct_size
    s["unpad_info_left_padding_bool"] = unpad_info(dtype=0, mode=1)
    s["unpad_info_holes_int32"] = unpad_info(dtype=1, batch=4, seqlen=17, mode=0)
    s["unpad_info_right_padding_int64"] = unpad_info(dtype=2, mode=2)
    s["unpad_info_all_masked"] = unpad_info(mode=3)
    s["bad_unpad_info_misaligned_indices"] = unpad_info(ptrs=(P_OK, 0xE9, P_OK, P_OK))
    s["bad_unpad_info_huge"] = bytes([OP_UNPAD_INFO, 0, 0, 0]) + hostile_i32(11) + hostile_i32(11) + bytes(4)
    s["bad_unpad_info_struct_size_zero"] = unpad_info(struct_size=SS_ZERO)
    s["bad_unpad_info_struct_size_newer_and_misaligned"] = unpad_info(ptrs=(P_OK, 0xE9, P_OK, P_OK), fill=False,
                                                                      struct_size=SS_NEWER)

    def rows(scatter=False, backend=0, row_elems=3, padded=11, strides=(0, 0), ptrs=(P_OK,) * 4, count=7,
             mode=0, seed=9, extra=b"", struct_size=b""):
        return bytes([OP_ROWS, 2 if scatter else 0, backend, 0, row_elems, padded - 1]) + bytes(strides) + \
            bytes(ptrs) + bytes([count, mode]) + u64(seed) + extra + struct_size
    s["unpad_rows_gather"] = rows()
    s["pad_rows_scatter_sorted"] = rows(scatter=True, mode=1)
    s["unpad_rows_padded_strides"] = rows(strides=(0xA1, 0xA2), count=11)
    s["pad_rows_count_zero"] = rows(scatter=True, count=0)
    s["bad_unpad_rows_index_out_of_range"] = rows(mode=0x3E, extra=b"\x02")
    s["bad_pad_rows_count_too_big"] = rows(scatter=True, count=0xC1)
    s["bad_rows_stride_below_row"] = rows(strides=(0xC0, 0))
    s["bad_unpad_rows_struct_size_older"] = rows(struct_size=SS_OLDER)
    s["bad_pad_rows_struct_size_random"] = rows(scatter=True, struct_size=ss_random(88 * 2))
    # a bad count too (the CPU would reject it): the size alone decides
    s["bad_pad_rows_struct_size_and_count"] = rows(scatter=True, count=0xC1, struct_size=SS_ZERO)

    def position_ids(dtype=0, total=40, ptrs=(P_OK,) * 4, mode=0, seed=3, fill=True, struct_size=b""):
        return bytes([OP_POSITION_IDS, 0, 0, dtype, total - 1]) + bytes(ptrs) + \
            (bytes([mode]) + u64(seed) if fill else b"") + struct_size
    s["position_ids_packed_int32"] = position_ids()
    s["position_ids_random_int64"] = position_ids(dtype=1, mode=1)
    s["position_ids_all_zero"] = position_ids(mode=2)
    s["bad_position_ids_bool"] = position_ids(dtype=0xF0)
    s["bad_position_ids_struct_size_newer"] = position_ids(struct_size=SS_NEWER)
    s["bad_position_ids_struct_size_zero_and_bool"] = position_ids(dtype=0xF0, fill=False, struct_size=SS_ZERO)
    # 0.4: fa_fwd_query_dispatch, after fa_fwd_query on every forward input;
    # these pass it an info it cannot write (alone, or with bad params)
    s["query_dispatch_info_null"] = fwd(op=OP_QUERY, dispatch=DI_NULL)
    s["query_dispatch_info_size_zero"] = fwd(op=OP_QUERY, dispatch=DI_SIZE_ZERO)
    s["query_dispatch_info_size_newer_gqa"] = fwd(op=OP_QUERY, batch=2, heads_k=2, group=2, lens=((5, 7), (3, 3)),
                                                  dispatch=DI_SIZE_NEWER)
    s["fwd_dispatch_info_size_older"] = fwd(dispatch=DI_SIZE_OLDER)
    s["bad_query_dispatch_info_null_and_head_dim"] = fwd(op=OP_QUERY, dim=b"\xE0" + small(64), dispatch=DI_NULL)
    s["query_dispatch_v02_size"] = fwd(op=OP_QUERY, tail03=v03(old_layout=2), dispatch=DI_OK)
    # 0.4: launch_flags (plain launches; unknown bits; past a 0.2 struct: ignored)
    s["fwd_launch_no_pdl"] = fwd(batch=2, heads_k=2, group=2, lens=((5, 7), (3, 3)), launch=LF_NO_PDL)
    s["bad_fwd_launch_flags_unknown_bit"] = fwd(launch=lf_bits(2))
    s["bad_query_launch_flags_high_bits"] = fwd(op=OP_QUERY, launch=lf_bits(0x80000001))
    s["fwd_v02_size_launch_flags_ignored"] = fwd(tail03=v03(old_layout=1), launch=lf_bits(0xFFFFFFFF))

    # 0.4: fa_fwd_workspace_size_max (run_workspace_max)
    def wsmax(flags=0, backend=b"\x00", dtype=b"\x00", heads_k=small(1), group=small(3), dim=bytes([DIM128]),
              batch=small(7), seqlen_q=small(100), total=b"\x00", seqlen_k=hostile_i32(6, bytes([17])),
              splits=small(0), ctx=CTX_NONE, struct_size=SS_OK):
        """Bounds of 8 query heads over 2 KV heads, d128, up to 8 x 100 rows and 128k keys, CPU."""
        return bytes([OP_WORKSPACE_MAX, flags]) + backend + dtype + heads_k + group + dim + batch + seqlen_q + \
            total + seqlen_k + splits + ctx + struct_size
    s["workspace_max_cpu_bf16"] = wsmax()
    s["workspace_max_cpu_fp16_context"] = wsmax(dtype=b"\x01", ctx=CTX_CPU)
    s["workspace_max_cpu_mqa_d64_splits_256"] = wsmax(heads_k=small(0), group=small(7), dim=bytes([DIM64]),
                                                      splits=hostile_i32(6, bytes([8])))
    s["workspace_max_cpu_empty_lengths"] = wsmax(seqlen_q=small(0), seqlen_k=small(0))
    s["workspace_max_message_null"] = wsmax(flags=0x01)
    s["workspace_max_cuda_no_device"] = wsmax(backend=b"\xF0")
    s["bad_workspace_max_params_null"] = wsmax(flags=0xE0)
    s["bad_workspace_max_bytes_null"] = wsmax(flags=0x1E)
    s["bad_workspace_max_struct_size_zero"] = wsmax(struct_size=SS_ZERO)
    s["bad_workspace_max_struct_size_newer_and_batch"] = wsmax(batch=hostile_i32(2), struct_size=SS_NEWER)
    s["bad_workspace_max_backend_7"] = wsmax(backend=b"\xF8" + u32(7))
    s["bad_workspace_max_dtype_fp32"] = wsmax(dtype=b"\xF0" + u32(3))
    s["bad_workspace_max_heads_not_divisible"] = wsmax(group=hostile_i32(8, u32(9)))
    s["bad_workspace_max_heads_k_zero"] = wsmax(heads_k=hostile_i32(2))
    s["bad_workspace_max_head_dim_72"] = wsmax(dim=b"\xE0" + small(64))
    s["bad_workspace_max_batch_zero"] = wsmax(batch=hostile_i32(2))
    s["bad_workspace_max_seqlen_q_negative"] = wsmax(seqlen_q=hostile_i32(0))
    s["bad_workspace_max_total_negative"] = wsmax(total=b"\xC0")
    s["bad_workspace_max_seqlen_k_negative"] = wsmax(seqlen_k=hostile_i32(4))
    s["bad_workspace_max_splits_257"] = wsmax(splits=hostile_i32(8, u32(257)))
    s["bad_workspace_max_splits_negative"] = wsmax(splits=hostile_i32(0))
    s["bad_workspace_max_total_int64_max"] = wsmax(total=b"\xC3")
    # max_total_q 2^40 near the partials' bound (2^62 bytes at FA_MAX_SPLITS):
    # 16 heads of d128 just under it, 32 just over, 32 of d256 past 2^63
    s["workspace_max_total_2_40_h16_d128"] = wsmax(heads_k=small(3), group=small(3), total=b"\xC5")
    s["bad_workspace_max_total_2_40_h32_d128"] = wsmax(heads_k=small(7), group=small(3), total=b"\xC5")
    s["bad_workspace_max_total_2_40_h32_d256"] = wsmax(heads_k=small(7), group=small(3), dim=bytes([DIM256]),
                                                       total=b"\xC5")
    s["bad_workspace_max_context_size_zero"] = wsmax(ctx=CTX_SIZE_ZERO)
    s["bad_workspace_max_cpu_context_on_cuda"] = wsmax(ctx=CTX_CPU_ON_CUDA_CALL)
    s["bad_workspace_max_cuda_context_on_cpu"] = wsmax(ctx=CTX_CUDA)
    s["copy_to_host"] = bytes([OP_COPY, 0, 40, P_OK, P_OK, 0])
    s["bad_copy_to_host_null"] = bytes([OP_COPY, 0, 40, P_NULL, P_OK, 0])
    assert not set(s) & set(r)
    return s, r


def seeds():
    return build()[0]


def regressions():
    return build()[1]


def write(out, files, what):
    os.makedirs(out, exist_ok=True)
    for name, data in sorted(files.items()):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(files)} {what} to {out}")


def main():
    here = os.path.dirname(__file__)
    s, r = build()
    write(sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "fuzz_corpus"), s, "seeds")
    write(sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "fuzz_regressions"), r, "regression inputs")


if __name__ == "__main__":
    main()
