#include "trainer/data/dataset.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace hpo::trainer {
namespace {

struct FixedHeader {
  char magic[8];
  uint32_t version, num_dense, num_sparse, flags;
  uint64_t num_examples;
};
static_assert(sizeof(FixedHeader) == 32, "header layout");

size_t HeaderBytes(int num_sparse) { return sizeof(FixedHeader) + 8 * static_cast<size_t>(num_sparse); }

}  // namespace

void EncodeRecord(const RecordLayout& layout, const Example& e, uint32_t* out) {
  std::memcpy(out, &e.label, 4);
  std::memcpy(out + 1, e.dense.data(), 4 * static_cast<size_t>(layout.num_dense));
  std::memcpy(out + 1 + layout.num_dense, e.sparse.data(), 4 * static_cast<size_t>(layout.num_sparse));
  if (layout.has_probability) std::memcpy(out + layout.words() - 1, &e.probability, 4);
}

float Dataset::label(int64_t i) const {
  float f;
  std::memcpy(&f, record(i), 4);
  return f;
}

Dataset::~Dataset() {
  if (map_ != nullptr) munmap(map_, map_bytes_);
}

absl::StatusOr<std::unique_ptr<Dataset>> Dataset::OpenMapped(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) return absl::NotFoundError(absl::StrCat(path, ": ", std::strerror(errno)));
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size < static_cast<off_t>(sizeof(FixedHeader))) {
    close(fd);
    return absl::DataLossError(absl::StrCat(path, ": too short for a dataset header"));
  }
  const size_t bytes = static_cast<size_t>(st.st_size);
  void* map = mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  if (map == MAP_FAILED) return absl::InternalError(absl::StrCat(path, ": mmap: ", std::strerror(errno)));
  std::unique_ptr<Dataset> ds(new Dataset());
  ds->map_ = map;
  ds->map_bytes_ = bytes;
  ds->name_ = path;
  FixedHeader h;
  std::memcpy(&h, map, sizeof(h));
  if (std::memcmp(h.magic, kBinaryMagic, 8) != 0) {
    return absl::DataLossError(absl::StrCat(path, ": not an hpo DLRM binary file (bad magic)"));
  }
  if (h.version != kBinaryVersion) {
    return absl::DataLossError(absl::StrCat(path, ": unsupported version ", h.version));
  }
  if (h.num_sparse > 4096 || h.num_dense > 4096 || bytes < HeaderBytes(static_cast<int>(h.num_sparse))) {
    return absl::DataLossError(absl::StrCat(path, ": corrupt header"));
  }
  ds->layout_.num_dense = static_cast<int>(h.num_dense);
  ds->layout_.num_sparse = static_cast<int>(h.num_sparse);
  ds->layout_.has_probability = (h.flags & 1u) != 0;
  ds->table_sizes_.resize(h.num_sparse);
  std::memcpy(ds->table_sizes_.data(), static_cast<const char*>(map) + sizeof(FixedHeader),
              8 * h.num_sparse);
  const size_t header = HeaderBytes(ds->layout_.num_sparse);
  if (bytes != header + h.num_examples * ds->layout_.bytes()) {
    return absl::DataLossError(absl::StrCat(path, ": size ", bytes, " does not match ",
                                            h.num_examples, " records of ", ds->layout_.bytes(),
                                            " bytes (truncated or not closed?)"));
  }
  ds->num_examples_ = static_cast<int64_t>(h.num_examples);
  ds->records_ = reinterpret_cast<const uint32_t*>(static_cast<const char*>(map) + header);
  // Training reads records in shuffled order within a buffer; tell the kernel not to
  // read far ahead of every access but keep pages around.
  madvise(map, bytes, MADV_WILLNEED);
  return ds;
}

std::unique_ptr<Dataset> Dataset::FromMemory(RecordLayout layout, std::vector<int64_t> table_sizes,
                                             std::vector<uint32_t> words) {
  std::unique_ptr<Dataset> ds(new Dataset());
  ds->layout_ = layout;
  ds->table_sizes_ = std::move(table_sizes);
  ds->owned_ = std::move(words);
  ds->num_examples_ = static_cast<int64_t>(ds->owned_.size() / static_cast<size_t>(layout.words()));
  ds->records_ = ds->owned_.data();
  ds->name_ = "<memory>";
  return ds;
}

absl::StatusOr<std::unique_ptr<BinaryWriter>> BinaryWriter::Create(const std::string& path,
                                                                   const RecordLayout& layout,
                                                                   std::vector<int64_t> table_sizes) {
  if (static_cast<int>(table_sizes.size()) != layout.num_sparse) {
    return absl::InvalidArgumentError(absl::StrCat("binary writer: ", table_sizes.size(),
                                                   " table sizes for ", layout.num_sparse,
                                                   " sparse features"));
  }
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return absl::NotFoundError(absl::StrCat(path, ": ", std::strerror(errno)));
  std::unique_ptr<BinaryWriter> w(new BinaryWriter());
  w->path_ = path;
  w->layout_ = layout;
  w->table_sizes_ = std::move(table_sizes);
  w->file_ = f;
  FixedHeader h{};
  std::memcpy(h.magic, kBinaryMagic, 8);
  h.version = kBinaryVersion;
  h.num_dense = static_cast<uint32_t>(layout.num_dense);
  h.num_sparse = static_cast<uint32_t>(layout.num_sparse);
  h.flags = layout.has_probability ? 1u : 0u;
  h.num_examples = 0;
  if (std::fwrite(&h, sizeof(h), 1, f) != 1 ||
      std::fwrite(w->table_sizes_.data(), 8, w->table_sizes_.size(), f) != w->table_sizes_.size()) {
    return absl::InternalError(absl::StrCat(path, ": write failed"));
  }
  w->scratch_.resize(static_cast<size_t>(layout.words()));
  return w;
}

BinaryWriter::~BinaryWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

absl::Status BinaryWriter::Append(const Example& e) {
  if (static_cast<int>(e.dense.size()) != layout_.num_dense ||
      static_cast<int>(e.sparse.size()) != layout_.num_sparse) {
    return absl::InvalidArgumentError("binary writer: example does not match the layout");
  }
  for (int f = 0; f < layout_.num_sparse; ++f) {
    if (e.sparse[f] < 0 || e.sparse[f] >= table_sizes_[f]) {
      return absl::InvalidArgumentError(absl::StrCat("binary writer: index ", e.sparse[f],
                                                     " out of range for table ", f, " of ",
                                                     table_sizes_[f], " rows"));
    }
  }
  EncodeRecord(layout_, e, scratch_.data());
  return AppendEncoded(scratch_);
}

absl::Status BinaryWriter::AppendEncoded(absl::Span<const uint32_t> words) {
  if (words.size() % static_cast<size_t>(layout_.words()) != 0) {
    return absl::InvalidArgumentError("binary writer: partial record");
  }
  if (std::fwrite(words.data(), 4, words.size(), file_) != words.size()) {
    return absl::InternalError(absl::StrCat(path_, ": write failed"));
  }
  count_ += static_cast<int64_t>(words.size() / static_cast<size_t>(layout_.words()));
  return absl::OkStatus();
}

absl::Status BinaryWriter::Close() {
  if (file_ == nullptr) return absl::FailedPreconditionError("binary writer already closed");
  const uint64_t n = static_cast<uint64_t>(count_);
  const bool ok = std::fseek(file_, offsetof(FixedHeader, num_examples), SEEK_SET) == 0 &&
                  std::fwrite(&n, 8, 1, file_) == 1;
  const bool closed = std::fclose(file_) == 0;
  file_ = nullptr;
  if (!ok || !closed) return absl::InternalError(absl::StrCat(path_, ": finishing the file failed"));
  return absl::OkStatus();
}

}  // namespace hpo::trainer
