// Whether bf16 pays on this CPU, decided by measurement: machines of one kind differ (one ran
// vdpbf16ps at a quarter of the FMA rate and oneDNN's bf16 convolutions at half their f32 speed,
// another at 1.84x and 2x), so an unset INFERENCE_PRECISION asks this probe instead of a table.
// It times oneDNN's convolutions on three shapes typical of the models we run (a 3x3 64-channel
// layer, which f32 runs as Winograd where that is faster, a 1x1 expansion and a depthwise 3x3),
// one thread, f32 against bf16, in the blocked layout the runtime uses: six interleaved rounds
// after a warm-up, best round each, about 80 ms once per process. Transposed convolutions get a
// probe of their own: oneDNN's bf16 deconvolution can be far slower than its f32 one where its
// convolutions are faster (one machine: 39 against 11 ms on YOLOv8-seg's prototype upsampling).
// bench/dnnl_precision_probe prints the full picture.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "kernels/dnnl/dnnl_common.hpp"

namespace visionrt {
namespace {

using namespace dnnl_k;

struct Shape2d {
  int64_t c, o, hw, k, groups;
  bool deconv = false;  // a k x k stride-k transposed convolution (hw -> k * hw)
};

// One convolution ready to run (src/weights/dst filled with small normal numbers: fresh memory
// may hold denormals, which slow the FMA units down), and its best time so far.
class ConvProbe {
 public:
  // ok() is false when oneDNN offers only its reference implementation (or none).
  ConvProbe(const Shape2d& s, DT dt, dnnl::algorithm alg) {
    const int64_t out = s.deconv ? s.hw * s.k : s.hw;
    memory::desc src({1, s.c, s.hw, s.hw}, dt, Tag::nChw16c),
        dst({1, s.o, out, out}, dt, Tag::nChw16c);
    memory::dims wd = s.groups > 1
                          ? memory::dims{s.groups, s.o / s.groups, s.c / s.groups, s.k, s.k}
                          : memory::dims{s.o, s.c, s.k, s.k};
    memory::desc w(wd, dt, Tag::any), b({s.o}, DT::f32, Tag::x);
    try {
      auto setup = [&](const auto& pd) {
        if (std::string(pd.impl_info_str()).find("ref") != std::string::npos) return false;
        args_ = {{DNNL_ARG_SRC, memory(pd.src_desc(), engine())},
                 {DNNL_ARG_WEIGHTS, memory(pd.weights_desc(), engine())},
                 {DNNL_ARG_BIAS, memory(b, engine())},
                 {DNNL_ARG_DST, memory(pd.dst_desc(), engine())},
                 {DNNL_ARG_SCRATCHPAD, memory(pd.scratchpad_desc(), engine())}};
        // 0x3c3c3c3c as f32, 0x3c3c as bf16: about 0.0115.
        for (int a : {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_BIAS, DNNL_ARG_DST})
          std::memset(args_[a].get_data_handle(), 0x3c, args_[a].get_desc().get_size());
        return true;
      };
      if (s.deconv) {
        dnnl::deconvolution_forward::desc d(dnnl::prop_kind::forward_inference,
                                            dnnl::algorithm::deconvolution_direct, src, w, b, dst,
                                            {s.k, s.k}, {0, 0}, {0, 0});
        dnnl::deconvolution_forward::primitive_desc pd(d, user_scratchpad(), engine());
        if (!setup(pd)) return;
        prim_ = dnnl::deconvolution_forward(pd);
      } else {
        dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, alg, src, w, b, dst,
                                          {1, 1}, {0, 0}, {s.k / 2, s.k / 2}, {s.k / 2, s.k / 2});
        dnnl::convolution_forward::primitive_desc pd(d, user_scratchpad(), engine());
        if (!setup(pd)) return;
        prim_ = dnnl::convolution_forward(pd);
      }
      ok_ = true;
    } catch (const dnnl::error&) {
      ok_ = false;
    }
  }
  bool ok() const { return ok_; }
  double best() const { return best_; }
  // Runs once; `record` keeps the time if it is the best (the first round only warms up).
  void run(bool record) {
    if (!ok_) return;
    auto t0 = std::chrono::steady_clock::now();
    prim_.execute(stream(), args_);
    stream().wait();
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (record) best_ = std::min(best_, ms);
  }

 private:
  bool ok_ = false;
  dnnl::primitive prim_;
  std::unordered_map<int, memory> args_;
  double best_ = 1e30;
};

// The three shapes' f32 (direct, or Winograd where faster) and bf16 convolutions, timed in
// interleaved rounds so that a burst of load on a shared machine slows every variant alike
// instead of one of them; each keeps its best round.
double measure_bf16_speedup() {
  const int saved = omp_get_max_threads();
  set_threads(1);
  struct Case {
    ConvProbe direct, bf16;
    std::optional<ConvProbe> wino;  // 3x3 non-grouped layers only
  };
  std::vector<Case> cases;
  for (const Shape2d& s :
       {Shape2d{64, 64, 56, 3, 1}, Shape2d{64, 256, 56, 1, 1}, Shape2d{144, 144, 56, 3, 144}}) {
    cases.push_back({ConvProbe(s, DT::f32, dnnl::algorithm::convolution_direct),
                     ConvProbe(s, DT::bf16, dnnl::algorithm::convolution_direct), std::nullopt});
    if (s.k == 3 && s.groups == 1)
      cases.back().wino.emplace(s, DT::f32, dnnl::algorithm::convolution_winograd);
  }
  for (int round = 0; round < 7; ++round)
    for (Case& c : cases) {
      c.direct.run(round > 0);
      c.bf16.run(round > 0);
      if (c.wino) c.wino->run(round > 0);
    }
  set_threads(saved);
  double f32 = 0, bf16 = 0;
  for (const Case& c : cases) {
    if (!c.direct.ok() || !c.bf16.ok()) return 0;
    f32 += c.wino && c.wino->ok() ? std::min(c.direct.best(), c.wino->best()) : c.direct.best();
    bf16 += c.bf16.best();
  }
  return f32 / bf16;
}

// oneDNN's bf16 transposed convolution against its f32 one (a 2x2 stride-2 64-channel
// upsampling, as YOLOv8-seg's prototype branch and U-Net decoders have), interleaved rounds.
double measure_bf16_deconv_speedup() {
  const int saved = omp_get_max_threads();
  set_threads(1);
  const Shape2d s{64, 64, 40, 2, 1, true};
  ConvProbe f32(s, DT::f32, dnnl::algorithm::convolution_direct),
      bf16(s, DT::bf16, dnnl::algorithm::convolution_direct);
  for (int round = 0; round < 7; ++round) {
    f32.run(round > 0);
    bf16.run(round > 0);
  }
  set_threads(saved);
  return f32.ok() && bf16.ok() ? f32.best() / bf16.best() : 0;
}

}  // namespace

bool cpu_supports_bf16() {
  const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  const auto bf16 = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_bf16);
  return (isa & bf16) == bf16;
}

bool int8_pairs_saturate() {
  static const bool no_vnni = [] {
    const unsigned isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
    const unsigned vnni512 = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_vnni);
    return !(isa == static_cast<unsigned>(dnnl::cpu_isa::avx2_vnni) || (isa & vnni512) == vnni512);
  }();
  if (const char* f = std::getenv("VISIONRT_INT8_HALVE")) return std::string(f) != "0";
  return no_vnni;
}

bool int8_halve_every_layer() {
  const char* f = std::getenv("VISIONRT_INT8_HALVE");
  return f && (std::string(f) == "1" || std::string(f) == "all");
}

double bf16_speedup() {
  static std::once_flag once;
  static double speedup = 0;
  std::call_once(once, [] { speedup = cpu_supports_bf16() ? measure_bf16_speedup() : 0; });
  return speedup;
}

double bf16_deconv_speedup() {
  static std::once_flag once;
  static double speedup = 0;
  std::call_once(once, [] { speedup = cpu_supports_bf16() ? measure_bf16_deconv_speedup() : 0; });
  return speedup;
}

}  // namespace visionrt
