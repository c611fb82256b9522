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
}  // namespace

// One launcher a variant: instantiates its kernel (nothing calls these).
#define FA_VARIANT_LAUNCHER(name, traits)                                               \
  extern "C" int fa_variant_check_##name(const fa_fwd_args *args, fa_stream_t stream) { \
    return fa::launch_fwd_wgmma<traits>(args, (cudaStream_t)stream);                    \
  }
FA_VARIANT_LAUNCHER(list56_d256, List56D256)
FA_VARIANT_LAUNCHER(lag_d64, LagD64)
FA_VARIANT_LAUNCHER(lag_d32, LagD32)
