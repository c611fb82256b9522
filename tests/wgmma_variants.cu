// wgmma_variants.cu - the wgmma family's tile fields that no kernel of the
// spec sets yet, compiled so that their code keeps building (and stays
// free of spills and wgmma serialization: the edge runs ptxas's check,
// tests/nvcc_ptxas_clean.sh) until an A/B on the device decides them.
// Object only: nothing links or launches these instantiations; the
// device A/Bs build them from spec variants (bench/wgmma_ab.sh
// AB_VARIANTS). When a field lands in gen/spec.py, drop its line here.
#include "cuda/fwd_wgmma.cuh"

namespace {
// lag_turns (consumers a key tile apart; fwd_wgmma.md Next steps [lag-turns]),
// as bench/experiments/README.md's side B: d64 none with four stages and 32
// list entries, d32 none with four stages.
using LagD64 = fa::FwdWgmmaTraits<64, 128, 4, __nv_bfloat16, fa::kMaskNone, true, fa::kTurnsSoftmax, true, true, 2, 2,
                                  fa::kRescaleLazySpeculative, false, false, 2, 32, true>;
static_assert(LagD64::kSmemBytes == 232448, "the d64 lag variant fills the block's shared memory");
using LagD32 = fa::FwdWgmmaTraits<32, 128, 4, __half, fa::kMaskNone, true, fa::kTurnsSoftmax, true, true, 2, 2,
                                  fa::kRescaleLazySpeculative, false, false, 2, FA_TILE_LIST_MAX, true>;
// list_max 56 at d256 (fwd_wgmma.md Next steps [d256-epilogue]): O staged in two passes of 128
// columns, the causal short-key kernel's traits otherwise.
using List56D256 = fa::FwdWgmmaTraits<256, 128, 1, __nv_bfloat16, fa::kMaskCausal, false, fa::kTurnsSoftmax, true,
                                      true, 2, 1, fa::kRescaleLazyWarp, false, false, 1, 56>;
static_assert(List56D256::kOPasses == 2, "d256 with 56 list entries stages O in two passes");
// mask_in_turn (the causal diagonal's mask inside the softmax turn;
// fwd_wgmma.md Next steps [mask-in-turn]): the d64 bf16 and d128 fp16 causal
// 128-row kernels' traits with it.
using MaskInTurnD64 = fa::FwdWgmmaTraits<64, 128, 3, __nv_bfloat16, fa::kMaskCausal, true, fa::kTurnsSoftmax, true, true,
                                         2, 2, fa::kRescaleLazySpeculative, false, false, 1, FA_TILE_LIST_MAX, false,
                                         true>;
using MaskInTurnD128 = fa::FwdWgmmaTraits<128, 128, 2, __half, fa::kMaskCausal, true, fa::kTurnsSoftmax, true, true, 2,
                                          2, fa::kRescaleLazySpeculative, true, false, 1, FA_TILE_LIST_MAX, false,
                                          true>;
// next_tile_under_pv (the next work tile found under the last P V;
// fwd_wgmma.md Next steps [next-tile-under-pv]): d64 bf16 causal with mask_in_turn
// too (two Q tiles: its Q waited for there as well), d128 bf16 none's
// 128 x 176 long-key kernel (one Q tile).
using NextTileD64 = fa::FwdWgmmaTraits<64, 128, 3, __nv_bfloat16, fa::kMaskCausal, true, fa::kTurnsSoftmax, true, true,
                                       2, 2, fa::kRescaleLazySpeculative, false, false, 1, FA_TILE_LIST_MAX, false,
                                       true, true>;
using NextTileD128 = fa::FwdWgmmaTraits<128, 176, 2, __nv_bfloat16, fa::kMaskNone, true, fa::kTurnsSoftmax, true, false,
                                        2, 1, fa::kRescaleLazySpeculative, false, false, 1, FA_TILE_LIST_MAX, false,
                                        false, true>;
// speculative_first (a work tile's first key tile by the speculative rule;
// fwd_wgmma.md Next steps [speculative-first]): d64 bf16 causal with the two
// fields above too, d128 fp16 local alone.
using SpeculativeFirstD64 = fa::FwdWgmmaTraits<64, 128, 3, __nv_bfloat16, fa::kMaskCausal, true, fa::kTurnsSoftmax, true,
                                               true, 2, 2, fa::kRescaleLazySpeculative, false, false, 1,
                                               FA_TILE_LIST_MAX, false, true, true, true>;
using SpeculativeFirstD128 = fa::FwdWgmmaTraits<128, 128, 2, __half, fa::kMaskLocal, true, fa::kTurnsSoftmax, true, true,
                                                2, 2, fa::kRescaleLazySpeculative, true, false, 1, FA_TILE_LIST_MAX,
                                                false, false, false, true>;
}  // namespace

// One launcher a variant: instantiates its kernel (nothing calls these).
#define FA_VARIANT_LAUNCHER(name, traits)                                               \
  extern "C" int fa_variant_check_##name(const fa_fwd_args *args, fa_stream_t stream) { \
    return fa::launch_fwd_wgmma<traits>(args, (cudaStream_t)stream);                    \
  }
FA_VARIANT_LAUNCHER(speculative_first_d64, SpeculativeFirstD64)
FA_VARIANT_LAUNCHER(speculative_first_d128, SpeculativeFirstD128)
FA_VARIANT_LAUNCHER(next_tile_d64, NextTileD64)
FA_VARIANT_LAUNCHER(next_tile_d128, NextTileD128)
FA_VARIANT_LAUNCHER(mask_in_turn_d64, MaskInTurnD64)
FA_VARIANT_LAUNCHER(mask_in_turn_d128, MaskInTurnD128)
FA_VARIANT_LAUNCHER(list56_d256, List56D256)
FA_VARIANT_LAUNCHER(lag_d64, LagD64)
FA_VARIANT_LAUNCHER(lag_d32, LagD32)
