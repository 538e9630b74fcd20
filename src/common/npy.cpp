// .npy codec. The header is a Python dict literal; we parse only the three keys NumPy writes.
#include "common/npy.hpp"

#include "common/file_io.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "common/strings.hpp"

namespace visionrt {
namespace {

struct NpyType {
  const char* descr;
  DType dtype;
};
const NpyType kTypes[] = {
    {"<f4", DType::f32}, {"<f8", DType::f64}, {"<f2", DType::f16}, {"|i1", DType::i8},
    {"|u1", DType::u8},  {"<i2", DType::i16}, {"<u2", DType::u16}, {"<i4", DType::i32},
    {"<u4", DType::u32}, {"<i8", DType::i64}, {"<u8", DType::u64}, {"|b1", DType::boolean},
};

}  // namespace

Tensor read_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw IoError(path + ": cannot open file");
  std::ostringstream ss;
  ss << f.rdbuf();
  std::string b = ss.str();
  if (b.size() < 10 || b.compare(0, 6, "\x93NUMPY") != 0) throw IoError(path + ": not a .npy file");
  int major = static_cast<unsigned char>(b[6]);
  size_t hlen, hstart;
  if (major == 1) {
    hlen = static_cast<unsigned char>(b[8]) |
           (static_cast<size_t>(static_cast<unsigned char>(b[9])) << 8);
    hstart = 10;
  } else if (major == 2 || major == 3) {
    if (b.size() < 12) throw IoError(path + ": truncated .npy header");
    hlen = 0;
    for (int i = 0; i < 4; ++i)
      hlen |= static_cast<size_t>(static_cast<unsigned char>(b[8 + i])) << (8 * i);
    hstart = 12;
  } else {
    throw IoError(str_cat(path, ": unsupported .npy version ", major));
  }
  if (hstart + hlen > b.size()) throw IoError(path + ": truncated .npy header");
  std::string header = b.substr(hstart, hlen);
  std::smatch m;
  if (!std::regex_search(header, m, std::regex("'descr':\\s*'([^']+)'")))
    throw IoError(path + ": .npy header has no descr");
  std::string descr = m[1];
  if (descr == "<f2" || descr == "=f2") descr = "<f2";
  if (std::regex_search(header, std::regex("'fortran_order':\\s*True")))
    throw IoError(path + ": Fortran-order .npy files are not supported");
  DType dt = DType::undefined;
  for (const auto& t : kTypes)
    if (descr == t.descr) dt = t.dtype;
  if (descr == "<b1") dt = DType::boolean;
  if (dt == DType::undefined) throw IoError(path + ": unsupported .npy dtype '" + descr + "'");
  if (!std::regex_search(header, m, std::regex("'shape':\\s*\\(([^)]*)\\)")))
    throw IoError(path + ": .npy header has no shape");
  Shape shape;
  std::string dims = m[1];
  std::regex num("\\d+");
  for (auto it = std::sregex_iterator(dims.begin(), dims.end(), num); it != std::sregex_iterator();
       ++it) {
    try {
      shape.push_back(std::stoll(it->str()));
    } catch (const std::exception&) {
      throw IoError(path + ": bad .npy shape");
    }
  }
  size_t numel;
  try {
    numel = shape_numel(shape);
  } catch (const Error&) {
    throw IoError(path + ": .npy shape " + shape_str(shape) + " is invalid");
  }
  size_t need = numel * dtype_size(dt), have = b.size() - hstart - hlen;
  if (have < need)
    throw IoError(str_cat(path, ": truncated .npy data (", have, " bytes, ", need, " needed)"));
  return Tensor::from_bytes(dt, shape, b.data() + hstart + hlen, need);
}

void write_npy(const std::string& path, const Tensor& t) {
  const char* descr = nullptr;
  for (const auto& k : kTypes)
    if (k.dtype == t.dtype()) descr = k.descr;
  Tensor data = t;
  if (!descr) {  // bf16 has no NumPy type: write it as f32
    data = t.cast(DType::f32);
    descr = "<f4";
  }
  std::string shape;
  for (size_t i = 0; i < data.rank(); ++i) shape += std::to_string(data.dim(i)) + ", ";
  if (data.rank() > 1) shape.resize(shape.size() - 2);
  if (data.rank() == 1) shape.resize(shape.size() - 1);
  std::string header =
      str_cat("{'descr': '", descr, "', 'fortran_order': False, 'shape': (", shape, "), }");
  size_t total = 10 + header.size() + 1;
  header += std::string((64 - total % 64) % 64, ' ') + "\n";
  std::string bytes("\x93NUMPY\x01\x00", 8);
  bytes += static_cast<char>(header.size() & 0xff);
  bytes += static_cast<char>(header.size() >> 8);
  bytes += header;
  bytes.append(static_cast<const char*>(data.raw()), data.nbytes());
  write_file_atomic(path, bytes);
}

}  // namespace visionrt
