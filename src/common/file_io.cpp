// read_file / write_file_atomic (see file_io.hpp).
#include "common/file_io.hpp"

#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/strings.hpp"
#include "visionrt/error.hpp"

namespace visionrt {

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw IoError(str_cat(path, ": cannot open: ", std::strerror(errno)));
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) throw IoError(str_cat(path, ": read failed"));
  std::string raw = ss.str();
  if (raw.size() < 2 || static_cast<unsigned char>(raw[0]) != 0x1f ||
      static_cast<unsigned char>(raw[1]) != 0x8b)
    return raw;
  gzFile gz = gzopen(path.c_str(), "rb");
  if (!gz) throw IoError(str_cat(path, ": cannot open as gzip"));
  std::string out;
  std::string buf(1 << 16, '\0');
  int n;
  while ((n = gzread(gz, buf.data(), static_cast<unsigned>(buf.size()))) > 0)
    out.append(buf.data(), static_cast<size_t>(n));
  int err = Z_OK;
  std::string why = n < 0 ? gzerror(gz, &err) : "";
  gzclose(gz);
  if (n < 0) throw IoError(str_cat(path, ": corrupt gzip data: ", why));
  return out;
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  std::string tmp = str_cat(path, ".tmp.", ::getpid());
  {
    std::ofstream f(tmp, std::ios::binary);
    if (!f) throw IoError(str_cat(path, ": cannot create file: ", std::strerror(errno)));
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    f.close();
    if (!f) {
      std::remove(tmp.c_str());
      throw IoError(str_cat(path, ": write failed (disk full?)"));
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::remove(tmp.c_str());
    throw IoError(str_cat(path, ": cannot rename into place: ", ec.message()));
  }
}

std::vector<std::string> read_names_list(const std::string& path) {
  std::string text = read_file(path);
  std::vector<std::string> out;
  size_t a = 0;
  while (a < text.size()) {
    size_t b = text.find('\n', a);
    if (b == std::string::npos) b = text.size();
    out.push_back(trim_copy(text.substr(a, b - a)));
    a = b + 1;
  }
  while (!out.empty() && out.back().empty()) out.pop_back();
  if (out.empty()) throw InputError(str_cat(path, ": no class names in the file"));
  return out;
}

}  // namespace visionrt
