// Measures oneDNN's f32 and bf16 speed on this CPU, one thread: a 1024^3 matmul and a few
// convolution shapes from the models we run, in the blocked (nChw16c) and NHWC layouts (README,
// Precision). Machines of one kind differ: one ran bf16 at half its f32 speed, another at 2x;
// the runtime decides its default from its own smaller probe (src/kernels/dnnl/precision_probe).
// First it measures the instruction peaks the libraries cannot exceed: vfmadd231ps zmm (f32,
// 32 flops) against vdpbf16ps zmm (bf16 pairs, 64 flops), register-resident, 12 independent
// accumulators each. Where vdpbf16ps issues at a quarter of the FMA rate, bf16 has no peak
// advantage over f32 and the conversions make it slower. The f32 convolutions also run
// oneDNN's Winograd kernels (the conv kernel's winograd_candidate rule rests on these).
// Usage: dnnl_precision_probe [repeats]
#include <immintrin.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dnnl.hpp>

#include "common/best_time.hpp"

extern "C" void omp_set_num_threads(int) noexcept;

namespace {

using dnnl::memory;
using visionrt::best_ms;
using Tag = memory::format_tag;
using DT = memory::data_type;

constexpr int kAcc = 12;
constexpr long kIters = 20'000'000;

__attribute__((target("avx512f"))) void keep(const __m512* acc) {
  alignas(64) float lanes[16];
  volatile float sink = 0;
  for (int i = 0; i < kAcc; ++i) {
    _mm512_store_ps(lanes, acc[i]);
    sink = sink + lanes[0];
  }
}

// Each loop iteration issues kAcc independent instructions; the volatile sink keeps the results.
__attribute__((target("avx512f"))) double fma_f32_gflops() {
  __m512 acc[kAcc];
  for (int i = 0; i < kAcc; ++i) acc[i] = _mm512_set1_ps(0.001f * static_cast<float>(i));
  const __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(0.0001f);
  auto t0 = std::chrono::steady_clock::now();
  for (long it = 0; it < kIters; ++it)
    for (int i = 0; i < kAcc; ++i) acc[i] = _mm512_fmadd_ps(a, acc[i], b);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  keep(acc);
  return 32.0 * kAcc * static_cast<double>(kIters) / s / 1e9;
}

__attribute__((target("avx512f,avx512bf16"))) double dpbf16_gflops() {
  __m512 acc[kAcc];
  for (int i = 0; i < kAcc; ++i) acc[i] = _mm512_set1_ps(0.001f * static_cast<float>(i));
  const __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(0.5f), _mm512_set1_ps(0.25f));
  const __m512bh b = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-4f), _mm512_set1_ps(-1e-4f));
  auto t0 = std::chrono::steady_clock::now();
  for (long it = 0; it < kIters; ++it)
    for (int i = 0; i < kAcc; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  keep(acc);
  return 64.0 * kAcc * static_cast<double>(kIters) / s / 1e9;
}

// Small normal numbers in every element (0x3c3c3c3c as f32, 0x3c3c as bf16, both about 0.0115):
// fresh memory may hold denormals, which run the FMA units at a fraction of their speed.
void fill(dnnl::memory& m) { std::memset(m.get_data_handle(), 0x3c, m.get_desc().get_size()); }

}  // namespace

int main(int argc, char** argv) {
  const int repeats = argc > 1 ? std::max(1, std::atoi(argv[1])) : 10;
  omp_set_num_threads(1);
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream s(eng);
  if (__builtin_cpu_supports("avx512f")) {
    const double f32 = fma_f32_gflops();
    std::printf("instruction peak, 1 thread: vfmadd231ps zmm %.1f GFLOP/s", f32);
    if (__builtin_cpu_supports("avx512bf16")) {
      const double bf16 = dpbf16_gflops();
      std::printf(", vdpbf16ps zmm %.1f GFLOP/s (bf16/f32 %.2f)", bf16, bf16 / f32);
    }
    std::printf("\n");
  }
  std::printf("%-34s %-5s %-28s %9s %9s\n", "case", "type", "implementation", "ms", "GFLOP/s");
  for (DT dt : {DT::f32, DT::bf16}) {
    const int64_t n = 1024;
    memory::desc a({n, n}, dt, Tag::ab), b({n, n}, dt, Tag::any), c({n, n}, DT::f32, Tag::ab);
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), eng);
    memory ma(pd.src_desc(), eng), mb(pd.weights_desc(), eng), mc(pd.dst_desc(), eng);
    for (memory* m : {&ma, &mb, &mc}) fill(*m);
    dnnl::matmul p(pd);
    double ms = best_ms(repeats, [&] {
      p.execute(s, {{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}});
      s.wait();
    });
    std::printf("%-34s %-5s %-28s %9.3f %9.1f\n", "matmul 1024^3", dt == DT::f32 ? "f32" : "bf16",
                pd.impl_info_str(), ms, 2.0 * n * n * n / ms / 1e6);
  }
  struct Conv {
    int64_t c, o, hw, k;
  };
  struct Variant {
    Tag tag;
    DT dt;
    dnnl::algorithm alg;
  };
  const dnnl::algorithm direct = dnnl::algorithm::convolution_direct;
  for (Conv cv :
       {Conv{64, 64, 80, 3}, Conv{128, 128, 40, 3}, Conv{512, 512, 38, 3}, Conv{256, 256, 20, 3}})
    for (Variant v : {Variant{Tag::nChw16c, DT::f32, direct},
                      Variant{Tag::nChw16c, DT::f32, dnnl::algorithm::convolution_winograd},
                      Variant{Tag::nChw16c, DT::bf16, direct}, Variant{Tag::nhwc, DT::f32, direct},
                      Variant{Tag::nhwc, DT::bf16, direct}}) {
      memory::desc src({1, cv.c, cv.hw, cv.hw}, v.dt, v.tag),
          dst({1, cv.o, cv.hw, cv.hw}, v.dt, v.tag);
      memory::desc w({cv.o, cv.c, cv.k, cv.k}, v.dt, Tag::any), b({cv.o}, DT::f32, Tag::x);
      dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, v.alg, src, w, b, dst,
                                        {1, 1}, {0, 0}, {cv.k / 2, cv.k / 2}, {cv.k / 2, cv.k / 2});
      dnnl::convolution_forward::primitive_desc pd(d, eng);
      memory ms_(pd.src_desc(), eng), mw(pd.weights_desc(), eng), mb(b, eng),
          md(pd.dst_desc(), eng);
      for (memory* m : {&ms_, &mw, &mb, &md}) fill(*m);
      dnnl::convolution_forward p(pd);
      double ms = best_ms(repeats, [&] {
        p.execute(
            s,
            {{DNNL_ARG_SRC, ms_}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_BIAS, mb}, {DNNL_ARG_DST, md}});
        s.wait();
      });
      char name[64];
      std::snprintf(name, sizeof name, "conv %lldx%lld k%lld @%lld %s%s",
                    static_cast<long long>(cv.c), static_cast<long long>(cv.o),
                    static_cast<long long>(cv.k), static_cast<long long>(cv.hw),
                    v.tag == Tag::nhwc ? "nhwc" : "nChw16c", v.alg == direct ? "" : " wino");
      // Winograd's rate is the direct convolution's flops over its time (effective GFLOP/s).
      std::printf("%-34s %-5s %-28s %9.3f %9.1f\n", name, v.dt == DT::f32 ? "f32" : "bf16",
                  pd.impl_info_str(), ms,
                  2.0 * cv.hw * cv.hw * cv.o * cv.c * cv.k * cv.k / ms / 1e6);
    }
  return 0;
}
