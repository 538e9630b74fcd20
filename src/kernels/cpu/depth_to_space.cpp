// DepthToSpace (DCR and CRD) for any dtype on static shapes, in plain NCHW, channels-last and
// (DCR with the output channels a multiple of the block) oneDNN's blocked nChw8c/nChw16c:
//
//   y[n, c, h·s+i, w·s+j] = x[n, src(c, i, j), h, w],
//   src = (i·s+j)·C + c (DCR)  or  c·s² + i·s + j (CRD).
//
// deconv_as_conv writes one after every non-overlapping ConvTranspose (YOLOv8-seg's proto
// upsampling), and sub-pixel super-resolution heads (ESPCN) end in one. Channels-last DCR copies
// s·C contiguous values per source pixel; blocked DCR moves whole blocks of lanes (an output
// block is one source block); plain interleaves s source rows into each output row.
#include <cstring>

#include "common/parallel.hpp"
#include "common/strings.hpp"
#include "kernels/kernel.hpp"

namespace visionrt {
namespace {

enum class Walk { plain, nhwc, blocked };

class DepthToSpace : public Kernel {
 public:
  DepthToSpace(Shape in, int64_t block, bool crd, size_t es, Walk walk, int lanes,
               std::string layout)
      : in_(std::move(in)),
        s_(block),
        crd_(crd),
        es_(es),
        walk_(walk),
        lanes_(lanes),
        layout_(std::move(layout)) {}

  void execute(KernelContext& ctx) override {
    const char* x = static_cast<const char*>(ctx.input(0).raw());
    char* y = static_cast<char*>(ctx.output(0).raw());
    const int64_t n = in_[0], c = in_[1] / (s_ * s_), h = in_[2], w = in_[3];
    const int64_t bytes = static_cast<int64_t>(ctx.output(0).nbytes());
    const int threads = bytes >= (1 << 16) ? ctx.num_threads : 1;
    if (walk_ == Walk::nhwc) {
      // Output rows (n, h·s+i): each source pixel gives s output pixels of C values.
      parallel_for(n * h * s_, threads, [&](int64_t row) {
        const int64_t i = row % s_, hh = (row / s_) % h, b = row / (s_ * h);
        const char* src = x + ((b * h + hh) * w) * in_[1] * static_cast<int64_t>(es_);
        char* dst = y + row * w * s_ * c * static_cast<int64_t>(es_);
        for (int64_t ww = 0; ww < w; ++ww) {
          const char* px = src + ww * in_[1] * static_cast<int64_t>(es_);
          if (!crd_) {
            std::memcpy(dst, px + i * s_ * c * static_cast<int64_t>(es_),
                        static_cast<size_t>(s_ * c) * es_);
            dst += s_ * c * static_cast<int64_t>(es_);
            continue;
          }
          for (int64_t j = 0; j < s_; ++j)
            for (int64_t cc = 0; cc < c; ++cc, dst += es_)
              std::memcpy(dst, px + (cc * s_ * s_ + i * s_ + j) * static_cast<int64_t>(es_), es_);
        }
      });
      return;
    }
    if (walk_ == Walk::blocked) {
      // [N][C/b][H][W][b]: output block cb at (h·s+i, w·s+j) is source block (i·s+j)·C/b + cb.
      const int64_t cb = c / lanes_, run = lanes_ * static_cast<int64_t>(es_);
      parallel_for(n * cb * h * s_, threads, [&](int64_t row) {
        const int64_t i = row % s_, hh = (row / s_) % h, ob = (row / (s_ * h)) % cb,
                      b = row / (s_ * h * cb);
        char* dst = y + row * w * s_ * run;
        for (int64_t ww = 0; ww < w; ++ww)
          for (int64_t j = 0; j < s_; ++j, dst += run) {
            const int64_t ib = (i * s_ + j) * cb + ob;
            std::memcpy(dst, x + (((b * cb * s_ * s_ + ib) * h + hh) * w + ww) * run,
                        static_cast<size_t>(run));
          }
      });
      return;
    }
    // Plain: output rows (n, c, h·s+i) interleave the s source rows (i, j = 0..s-1).
    parallel_for(n * c * h * s_, threads, [&](int64_t row) {
      const int64_t i = row % s_, hh = (row / s_) % h, cc = (row / (s_ * h)) % c,
                    b = row / (s_ * h * c);
      char* dst = y + row * w * s_ * static_cast<int64_t>(es_);
      for (int64_t j = 0; j < s_; ++j) {
        const int64_t sc = crd_ ? cc * s_ * s_ + i * s_ + j : (i * s_ + j) * c + cc;
        const char* src = x + ((b * in_[1] + sc) * h + hh) * w * static_cast<int64_t>(es_);
        switch (es_) {
          case 1:
            interleave<uint8_t>(src, dst, w, j);
            break;
          case 2:
            interleave<uint16_t>(src, dst, w, j);
            break;
          case 4:
            interleave<uint32_t>(src, dst, w, j);
            break;
          case 8:
            interleave<uint64_t>(src, dst, w, j);
            break;
          default:
            for (int64_t ww = 0; ww < w; ++ww)
              std::memcpy(dst + (ww * s_ + j) * static_cast<int64_t>(es_),
                          src + ww * static_cast<int64_t>(es_), es_);
        }
      }
    });
  }
  std::string layout() const override { return layout_; }
  bool reads_at_run_time(size_t input) const override { return input == 0; }

 private:
  template <typename T>
  void interleave(const char* src, char* dst, int64_t w, int64_t j) const {
    const T* s = reinterpret_cast<const T*>(src);
    T* d = reinterpret_cast<T*>(dst) + j;
    for (int64_t ww = 0; ww < w; ++ww) d[ww * s_] = s[ww];
  }

  Shape in_;
  int64_t s_;
  bool crd_;
  size_t es_;
  Walk walk_;
  int lanes_;
  std::string layout_;
};

std::unique_ptr<Kernel> create(const KernelQuery& q, std::string* why) {
  const TensorType& t = q.input_types[0];
  if (!t.fully_known() || t.dims.size() != 4 || t.dtype == DType::undefined)
    return *why = "needs a static 4-D tensor", nullptr;
  const Node& n = *q.node;
  const int64_t s = n.attr_i("blocksize", 0);
  const std::string mode = n.attr_s("mode", "DCR");
  if (mode != "DCR" && mode != "CRD") return *why = str_cat("mode '", mode, "'"), nullptr;
  const bool crd = mode == "CRD";
  if (s <= 0 || t.dims[1] % (s * s) != 0)
    return *why = "channels not a multiple of blocksize^2", nullptr;
  if (shape_numel(t.dims) == 0) return *why = "empty tensor", nullptr;
  const int64_t c = t.dims[1] / (s * s);
  const Shape out = {t.dims[0], c, t.dims[2] * s, t.dims[3] * s};
  if (q.output_types[0].fully_known() && q.output_types[0].dims != out)
    return *why = "output shape disagrees with the block size", nullptr;
  const size_t es = dtype_size(t.dtype);
  const int block = q.input_layout(0);
  if (block != q.output_layout(0)) return *why = "input and output layouts differ", nullptr;
  if (!block)
    return std::make_unique<DepthToSpace>(t.dims, s, crd, es, Walk::plain, 0,
                                          str_cat("plain ", mode));
  if (block == kLayoutNhwc)
    return std::make_unique<DepthToSpace>(t.dims, s, crd, es, Walk::nhwc, 0,
                                          str_cat("nhwc ", mode));
  if (crd) return *why = "blocked: CRD mixes channel blocks", nullptr;
  if (c % block) return *why = "blocked: output channels not a multiple of the block", nullptr;
  return std::make_unique<DepthToSpace>(t.dims, s, crd, es, Walk::blocked, block,
                                        str_cat("nChw", block, "c ", mode));
}

}  // namespace

void register_cpu_depth_to_space(KernelRegistry& r) {
  r.add("DepthToSpace", KernelCandidate::checked_by_create("cpu", create));
}

}  // namespace visionrt
