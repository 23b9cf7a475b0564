// ctnn::data's link interface: zlib and HDF5 headers and libraries reach the consumer.
#include <hdf5.h>
#include <zlib.h>

#include <cstdio>

int main() {
  unsigned major = 0, minor = 0, release = 0;
  H5get_libversion(&major, &minor, &release);
  std::printf("zlib %s, hdf5 %u.%u.%u\n", zlibVersion(), major, minor, release);
  return 0;
}
