// Concat and Split along an axis whose rows are short (YOLOv5's head: [.., 85] split into 2 + 2
// + 81 and concatenated back). oneDNN's generic implementation copies element by element there;
// this copies each row's pieces with a typed loop, rows in parallel. Plain layouts, any dtype,
// static shapes. Long rows stay with oneDNN (or are done in place by the memory plan).
#include <algorithm>
#include <cstring>

#include "common/parallel.hpp"
#include "common/strings.hpp"
#include "kernels/kernel.hpp"

namespace visionrt {
namespace {

constexpr int64_t kShortRow = 256;  // elements per piece below which this kernel is used

template <typename T>
void copy_rows(const T* src, int64_t src_row, T* dst, int64_t dst_row, int64_t n, int64_t rows) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* s = src + r * src_row;
    T* d = dst + r * dst_row;
    for (int64_t k = 0; k < n; ++k) d[k] = s[k];
  }
}

// Copies `rows` rows of `n` elements of size `es` between strided places.
void copy_pieces(const void* src, int64_t src_row, void* dst, int64_t dst_row, int64_t n,
                 int64_t rows, size_t es) {
  switch (es) {
    case 4:
      return copy_rows(static_cast<const uint32_t*>(src), src_row, static_cast<uint32_t*>(dst),
                       dst_row, n, rows);
    case 8:
      return copy_rows(static_cast<const uint64_t*>(src), src_row, static_cast<uint64_t*>(dst),
                       dst_row, n, rows);
    case 2:
      return copy_rows(static_cast<const uint16_t*>(src), src_row, static_cast<uint16_t*>(dst),
                       dst_row, n, rows);
    default:
      return copy_rows(static_cast<const uint8_t*>(src), src_row, static_cast<uint8_t*>(dst),
                       dst_row, n, rows);
  }
}

class RowConcatSplit : public Kernel {
 public:
  // pieces: elements per row of each input (Concat) or output (Split).
  RowConcatSplit(bool split, int64_t outer, std::vector<int64_t> pieces, size_t es)
      : split_(split), outer_(outer), pieces_(std::move(pieces)), es_(es) {
    for (int64_t p : pieces_) row_ += p;
  }
  void execute(KernelContext& ctx) override {
    const int64_t block = 256;  // rows per work item
    const int64_t items = (outer_ + block - 1) / block;
    const int threads = outer_ * row_ >= (int64_t{1} << 14) ? ctx.num_threads : 1;
    parallel_for(items, threads, [&](int64_t it) {
      const int64_t r0 = it * block, rows = std::min(block, outer_ - r0);
      int64_t off = 0;
      for (size_t i = 0; i < pieces_.size(); ++i) {
        const int64_t n = pieces_[i];
        if (split_) {
          const char* x = static_cast<const char*>(ctx.input(0).raw());
          char* y = static_cast<char*>(ctx.output(i).raw());
          copy_pieces(x + (r0 * row_ + off) * static_cast<int64_t>(es_), row_,
                      y + r0 * n * static_cast<int64_t>(es_), n, n, rows, es_);
        } else {
          const char* x = static_cast<const char*>(ctx.input(i).raw());
          char* y = static_cast<char*>(ctx.output(0).raw());
          copy_pieces(x + r0 * n * static_cast<int64_t>(es_), n,
                      y + (r0 * row_ + off) * static_cast<int64_t>(es_), row_, n, rows, es_);
        }
        off += n;
      }
    });
  }
  std::string layout() const override { return "plain rows"; }

 private:
  bool split_;
  int64_t outer_;
  std::vector<int64_t> pieces_;
  size_t es_;
  int64_t row_ = 0;
};

std::unique_ptr<Kernel> create(const KernelQuery& q, std::string* why) {
  if (q.any_blocked()) return *why = "plain layouts only", nullptr;
  const bool split = q.node->op_type == "Split";
  const std::vector<TensorType>& pieces_t = split ? q.output_types : q.input_types;
  const TensorType& whole = split ? q.input_types[0] : q.output_types[0];
  if (!whole.fully_known() || whole.dims.empty()) return *why = "needs a static shape", nullptr;
  const int64_t rank = static_cast<int64_t>(whole.dims.size());
  int64_t axis = q.node->attr_i("axis", split ? 0 : 0);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) return *why = "axis out of range", nullptr;
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= whole.dims[d];
  for (int64_t d = axis + 1; d < rank; ++d) inner *= whole.dims[d];
  std::vector<int64_t> pieces;
  int64_t covered = 0, longest = 0;
  for (const TensorType& t : pieces_t) {
    if (!t.fully_known() || t.dtype != whole.dtype || t.dims.size() != whole.dims.size())
      return *why = "pieces are not static and of the same type and rank", nullptr;
    pieces.push_back(t.dims[axis] * inner);
    covered += t.dims[axis];
    longest = std::max(longest, t.dims[axis] * inner);
  }
  if (covered != whole.dims[axis]) return *why = "pieces do not cover the axis", nullptr;
  if (longest >= kShortRow) return *why = "long rows (oneDNN's case)", nullptr;
  if (outer == 0 || inner == 0) return *why = "empty tensor", nullptr;
  return std::make_unique<RowConcatSplit>(split, outer, std::move(pieces), dtype_size(whole.dtype));
}

}  // namespace

void register_cpu_concat_split(KernelRegistry& r) {
  r.add("Concat", {"cpu", create, nullptr});
  r.add("Split", {"cpu", create, nullptr});
}

}  // namespace visionrt
