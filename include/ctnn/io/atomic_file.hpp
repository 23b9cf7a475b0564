// Atomic file replacement: write a temporary file in the same folder, flush it to disk, rename it
// over the target, then flush the folder. A reader sees the old file or the new one, never part of
// either, and a failure (full disk, crash) leaves the old file as it was and no temporary behind.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <filesystem>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace ctnn {

// Thrown when a file cannot be written; the message starts with the file's path.
class FileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
inline std::string error_text(int error) { return std::generic_category().message(error); }
}  // namespace detail

inline void write_file_atomically(const std::filesystem::path& path, std::span<const std::byte> bytes) {
  const std::string source = path.string();
  std::filesystem::path temporary = path;
  temporary += ".tmp-" + std::to_string(::getpid());
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0)
    throw FileError(source + ": cannot create the temporary file " + temporary.string() + ": " +
                    detail::error_text(errno));
  int error = 0;
  std::size_t done = 0;
  while (done < bytes.size()) {
    const std::size_t chunk = std::min<std::size_t>(bytes.size() - done, std::size_t{1} << 30);
    const ::ssize_t count = ::write(fd, bytes.data() + done, chunk);
    if (count < 0 && errno == EINTR) continue;
    if (count <= 0) {
      error = count < 0 ? errno : EIO;
      break;
    }
    done += static_cast<std::size_t>(count);
  }
  if (!error && ::fsync(fd) != 0) error = errno;
  if (::close(fd) != 0 && !error) error = errno;
  std::error_code ignored;
  if (error) {
    std::filesystem::remove(temporary, ignored);
    throw FileError(source + ": cannot write the temporary file " + temporary.string() + ": " +
                    detail::error_text(error));
  }
  std::error_code renamed;
  std::filesystem::rename(temporary, path, renamed);
  if (renamed) {
    std::filesystem::remove(temporary, ignored);
    throw FileError(source + ": cannot replace it with " + temporary.string() + ": " + renamed.message());
  }
  // Makes the rename itself durable; a failure here cannot undo it, so it is not an error.
  const std::filesystem::path folder = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  if (const int folder_fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); folder_fd >= 0) {
    ::fsync(folder_fd);
    ::close(folder_fd);
  }
}

inline void write_file_atomically(const std::filesystem::path& path, std::string_view text) {
  write_file_atomically(path, std::as_bytes(std::span(text.data(), text.size())));
}

}  // namespace ctnn
