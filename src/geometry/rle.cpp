// RLE masks (see rle.hpp). The rules follow pycocotools' maskApi; the code is our own.
#include "geometry/rle.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "common/strings.hpp"
#include "visionrt/error.hpp"

namespace visionrt {

Rle rle_from_polygon(const std::vector<double>& xy, uint32_t h, uint32_t w) {
  const size_t k = xy.size() / 2;
  Rle r;
  r.h = h;
  r.w = w;
  const double scale = 5;
  // Vertices on the 5x grid (rounded half up by truncation, as maskApi does), closed.
  for (double c : xy)
    if (!(std::fabs(c) <= 4e8)) throw InputError("polygon coordinate is not a number below 4e8");
  std::vector<int> x(k + 1), y(k + 1);
  for (size_t j = 0; j < k; ++j) {
    x[j] = static_cast<int>(scale * xy[2 * j] + .5);
    y[j] = static_cast<int>(scale * xy[2 * j + 1] + .5);
  }
  x[k] = k ? x[0] : 0;
  y[k] = k ? y[0] : 0;
  // Dense boundary points: per edge, one point per step along its longer axis.
  uint64_t points = 0;
  for (size_t j = 0; j < k; ++j)
    points += static_cast<uint64_t>(std::max(std::abs(int64_t{x[j]} - x[j + 1]),
                                             std::abs(int64_t{y[j]} - y[j + 1]))) +
              1;
  if (points > (uint64_t{1} << 26))
    throw InputError(
        str_cat("polygon boundary of ", points / 5, " pixels: coordinates far outside the image"));
  std::vector<int> u, v;
  u.reserve(points);
  v.reserve(points);
  for (size_t j = 0; j < k; ++j) {
    int xs = x[j], xe = x[j + 1], ys = y[j], ye = y[j + 1];
    const int dx = std::abs(xe - xs), dy = std::abs(ys - ye);
    const bool flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
    if (flip) std::swap(xs, xe), std::swap(ys, ye);
    if (dx >= dy) {
      const double s = dx ? static_cast<double>(ye - ys) / dx : 0.0;
      for (int d = 0; d <= dx; ++d) {
        const int t = flip ? dx - d : d;
        u.push_back(t + xs);
        v.push_back(static_cast<int>(ys + s * t + .5));
      }
    } else {
      const double s = static_cast<double>(xe - xs) / dy;
      for (int d = 0; d <= dy; ++d) {
        const int t = flip ? dy - d : d;
        v.push_back(t + ys);
        u.push_back(static_cast<int>(xs + s * t + .5));
      }
    }
  }
  // Where the boundary crosses a pixel-centre column, the first pixel below the crossing.
  std::vector<uint32_t> starts;
  for (size_t j = 1; j < u.size(); ++j) {
    if (u[j] == u[j - 1]) continue;
    double xd = static_cast<double>(u[j] < u[j - 1] ? u[j] : u[j] - 1);
    xd = (xd + .5) / scale - .5;
    if (std::floor(xd) != xd || xd < 0 || xd > static_cast<double>(w) - 1) continue;
    double yd = static_cast<double>(v[j] < v[j - 1] ? v[j] : v[j - 1]);
    yd = (yd + .5) / scale - .5;
    yd = yd < 0 ? 0 : (yd > h ? h : yd);
    yd = std::ceil(yd);
    starts.push_back(
        static_cast<uint32_t>(static_cast<int>(xd) * static_cast<int>(h) + static_cast<int>(yd)));
  }
  starts.push_back(h * w);
  std::sort(starts.begin(), starts.end());
  // Differences become runs; a zero-length run merges its neighbours (toggle twice = no-op).
  uint32_t prev = 0;
  for (uint32_t& a : starts) {
    const uint32_t t = a;
    a -= prev;
    prev = t;
  }
  size_t j = 0;
  r.counts.push_back(starts[j++]);
  while (j < starts.size()) {
    if (starts[j] > 0) {
      r.counts.push_back(starts[j++]);
    } else {
      ++j;
      if (j < starts.size()) r.counts.back() += starts[j++];
    }
  }
  return r;
}

namespace {

// Walks two masks' runs in lockstep, calling f(run_length, in_a, in_b) per common run.
template <typename F>
void walk_pair(const Rle& a, const Rle& b, F&& f) {
  size_t ia = 0, ib = 0;
  uint32_t ca = a.counts.empty() ? 0 : a.counts[0], cb = b.counts.empty() ? 0 : b.counts[0];
  bool va = false, vb = false;
  uint64_t left = static_cast<uint64_t>(a.h) * a.w;
  while (left > 0) {
    while (ca == 0 && ia + 1 < a.counts.size()) ca = a.counts[++ia], va = !va;
    while (cb == 0 && ib + 1 < b.counts.size()) cb = b.counts[++ib], vb = !vb;
    uint32_t c = std::min(ca, cb);
    if (c == 0) break;  // malformed runs shorter than the canvas: stop
    f(c, va, vb);
    ca -= c;
    cb -= c;
    left -= c;
  }
}

}  // namespace

Rle rle_merge(const std::vector<Rle>& masks, bool intersect) {
  if (masks.empty()) return {};
  Rle acc = masks[0];
  for (size_t i = 1; i < masks.size(); ++i) {
    const Rle& b = masks[i];
    if (b.h != acc.h || b.w != acc.w) return Rle{};  // maskApi: size mismatch -> empty 0x0
    Rle out;
    out.h = acc.h;
    out.w = acc.w;
    bool cur = false;
    uint32_t run = 0;
    walk_pair(acc, b, [&](uint32_t c, bool va, bool vb) {
      const bool v = intersect ? (va && vb) : (va || vb);
      if (v != cur) {
        out.counts.push_back(run);
        run = 0;
        cur = v;
      }
      run += c;
    });
    out.counts.push_back(run);
    acc = std::move(out);
  }
  return acc;
}

uint64_t rle_area(const Rle& r) {
  uint64_t a = 0;
  for (size_t j = 1; j < r.counts.size(); j += 2) a += r.counts[j];
  return a;
}

BoxXYWH rle_to_box(const Rle& r) {
  const size_t m = r.counts.size() / 2 * 2;
  if (m == 0 || r.h == 0) return {};
  const uint32_t h = r.h;
  uint32_t xs = r.w, ys = h, xe = 0, ye = 0, xp = 0;
  uint64_t cc = 0;
  for (size_t j = 0; j < m; ++j) {
    cc += r.counts[j];
    const uint64_t t = cc - j % 2;
    const uint32_t y = static_cast<uint32_t>(t % h), x = static_cast<uint32_t>(t / h);
    if (j % 2 == 0)
      xp = x;
    else if (xp < x)
      ys = 0, ye = h - 1;  // a run of ones crossing columns spans the full height
    xs = std::min(xs, x), xe = std::max(xe, x), ys = std::min(ys, y), ye = std::max(ye, y);
  }
  return {static_cast<double>(xs), static_cast<double>(ys), static_cast<double>(xe - xs + 1),
          static_cast<double>(ye - ys + 1)};
}

double rle_iou(const Rle& dt, const Rle& gt, bool gt_is_crowd) {
  if (box_iou(rle_to_box(dt), rle_to_box(gt), gt_is_crowd) <= 0) return 0;
  if (dt.h != gt.h || dt.w != gt.w) return -1;
  uint64_t inter = 0, uni = 0;
  walk_pair(dt, gt, [&](uint32_t c, bool va, bool vb) {
    if (va || vb) uni += c;
    if (va && vb) inter += c;
  });
  if (inter == 0) return 0;
  if (gt_is_crowd) uni = rle_area(dt);
  return static_cast<double>(inter) / static_cast<double>(uni);
}

Rle rle_from_string(const std::string& s, uint32_t h, uint32_t w) {
  Rle r;
  r.h = h;
  r.w = w;
  size_t p = 0;
  while (p < s.size()) {
    // Five bits per character, least significant first, sign in bit 4 of the last one. Seven
    // characters (35 bits) hold every delta of 32-bit counts; longer numbers are refused before
    // a shift could leave the 64 bits.
    uint64_t bits = 0;
    int k = 0;
    bool more = true;
    while (more) {
      if (p >= s.size()) throw InputError("RLE counts string ends in the middle of a number");
      const int c = static_cast<unsigned char>(s[p]) - 48;
      if (c < 0 || c > 63)
        throw InputError(str_cat("RLE counts string has an invalid character '", s[p], "'"));
      if (k >= 7) throw InputError("RLE counts string has a number too long");
      bits |= static_cast<uint64_t>(c & 0x1f) << (5 * k);
      more = (c & 0x20) != 0;
      ++p;
      ++k;
      if (!more && (c & 0x10)) bits |= ~uint64_t{0} << (5 * k);
    }
    int64_t x = static_cast<int64_t>(bits);
    if (r.counts.size() > 2) x += r.counts[r.counts.size() - 2];
    if (x < 0 || x > 0xffffffffLL) throw InputError("RLE counts string decodes to a negative run");
    r.counts.push_back(static_cast<uint32_t>(x));
  }
  uint64_t total = 0;
  for (uint32_t c : r.counts) total += c;
  if (total != static_cast<uint64_t>(h) * w)
    throw InputError(
        str_cat("RLE runs cover ", total, " pixels, the mask has ", static_cast<uint64_t>(h) * w));
  return r;
}

std::string rle_to_string(const Rle& r) {
  std::string s;
  for (size_t i = 0; i < r.counts.size(); ++i) {
    int64_t x = r.counts[i];
    if (i > 2) x -= static_cast<int64_t>(r.counts[i - 2]);
    bool more = true;
    while (more) {
      int c = static_cast<int>(x & 0x1f);
      x >>= 5;
      more = (c & 0x10) ? x != -1 : x != 0;
      if (more) c |= 0x20;
      s += static_cast<char>(c + 48);
    }
  }
  return s;
}

Rle rle_encode(const std::vector<uint8_t>& m, uint32_t h, uint32_t w) {
  Rle r;
  r.h = h;
  r.w = w;
  bool cur = false;
  uint32_t run = 0;
  for (uint32_t x = 0; x < w; ++x)
    for (uint32_t y = 0; y < h; ++y) {
      const bool v = m[static_cast<size_t>(y) * w + x] != 0;
      if (v != cur) {
        r.counts.push_back(run);
        run = 0;
        cur = v;
      }
      ++run;
    }
  r.counts.push_back(run);
  return r;
}

std::vector<uint8_t> rle_decode(const Rle& r) {
  std::vector<uint8_t> m(static_cast<size_t>(r.h) * r.w, 0);
  uint64_t pos = 0;
  bool v = false;
  for (uint32_t c : r.counts) {
    for (uint32_t i = 0; i < c && pos < m.size(); ++i, ++pos)
      if (v) m[(pos % r.h) * r.w + pos / r.h] = 1;
    v = !v;
  }
  return m;
}

}  // namespace visionrt
