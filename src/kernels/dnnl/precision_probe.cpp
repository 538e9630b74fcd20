// Whether bf16 pays on this CPU, decided by measurement: machines of one kind differ (one ran
// vdpbf16ps at a quarter of the FMA rate and oneDNN's bf16 convolutions at half their f32 speed,
// another at 1.84x and 2x), so an unset INFERENCE_PRECISION asks this probe instead of a table.
// It times oneDNN's convolutions on three shapes typical of the models we run (a 3x3 64-channel
// layer, which f32 runs as Winograd where that is faster, a 1x1 expansion and a depthwise 3x3),
// one thread, f32 against bf16, in the blocked layout the runtime uses; best of a few runs each,
// about 50 ms once per process. bench/dnnl_precision_probe prints the full picture.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <mutex>

#include "common/best_time.hpp"
#include "kernels/dnnl/dnnl_common.hpp"

namespace visionrt {
namespace {

using namespace dnnl_k;

struct Shape2d {
  int64_t c, o, hw, k, groups;
};

// Best time of `alg` convolutions of shape `s` in type `dt`; 0 when oneDNN offers only its
// reference implementation (or none).
double conv_ms(const Shape2d& s, DT dt, dnnl::algorithm alg) {
  memory::desc src({1, s.c, s.hw, s.hw}, dt, Tag::nChw16c),
      dst({1, s.o, s.hw, s.hw}, dt, Tag::nChw16c);
  memory::dims wd = s.groups > 1 ? memory::dims{s.groups, s.o / s.groups, s.c / s.groups, s.k, s.k}
                                 : memory::dims{s.o, s.c, s.k, s.k};
  memory::desc w(wd, dt, Tag::any), b({s.o}, DT::f32, Tag::x);
  try {
    dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, alg, src, w, b, dst,
                                      {1, 1}, {0, 0}, {s.k / 2, s.k / 2}, {s.k / 2, s.k / 2});
    dnnl::convolution_forward::primitive_desc pd(d, user_scratchpad(), engine());
    if (std::string(pd.impl_info_str()).find("ref") != std::string::npos) return 0;
    memory ms(pd.src_desc(), engine()), mw(pd.weights_desc(), engine()), mb(b, engine()),
        md(pd.dst_desc(), engine()), pad(pd.scratchpad_desc(), engine());
    // Small normal numbers everywhere (0x3c3c3c3c as f32, 0x3c3c as bf16, about 0.0115):
    // fresh memory may hold denormals, which slow the FMA units down.
    for (memory* m : {&ms, &mw, &mb, &md})
      std::memset(m->get_data_handle(), 0x3c, m->get_desc().get_size());
    dnnl::convolution_forward p(pd);
    return best_ms(4, [&] {
      p.execute(stream(), {{DNNL_ARG_SRC, ms},
                           {DNNL_ARG_WEIGHTS, mw},
                           {DNNL_ARG_BIAS, mb},
                           {DNNL_ARG_DST, md},
                           {DNNL_ARG_SCRATCHPAD, pad}});
      stream().wait();
    });
  } catch (const dnnl::error&) {
    return 0;
  }
}

double measure_bf16_speedup() {
  const int saved = omp_get_max_threads();
  set_threads(1);
  double f32 = 0, bf16 = 0;
  for (const Shape2d& s :
       {Shape2d{64, 64, 56, 3, 1}, Shape2d{64, 256, 56, 1, 1}, Shape2d{144, 144, 56, 3, 144}}) {
    double direct = conv_ms(s, DT::f32, dnnl::algorithm::convolution_direct);
    double wino =
        s.k == 3 && s.groups == 1 ? conv_ms(s, DT::f32, dnnl::algorithm::convolution_winograd) : 0;
    double b = conv_ms(s, DT::bf16, dnnl::algorithm::convolution_direct);
    if (direct <= 0 || b <= 0) {
      f32 = 0;
      break;
    }
    f32 += wino > 0 ? std::min(direct, wino) : direct;
    bf16 += b;
  }
  set_threads(saved);
  return f32 > 0 && bf16 > 0 ? f32 / bf16 : 0;
}

}  // namespace

bool cpu_supports_bf16() {
  const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  const auto bf16 = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_bf16);
  return (isa & bf16) == bf16;
}

double bf16_speedup() {
  static std::once_flag once;
  static double speedup = 0;
  std::call_once(once, [] { speedup = cpu_supports_bf16() ? measure_bf16_speedup() : 0; });
  return speedup;
}

}  // namespace visionrt
