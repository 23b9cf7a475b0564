# Defines ctnn::hdf5, HDF5's C library, for the USPS loader. FindHDF5 is not used because it
# needs the C language enabled in every consumer project.
if(NOT TARGET ctnn::hdf5)
  find_path(CTNN_HDF5_INCLUDE_DIR hdf5.h PATH_SUFFIXES hdf5/serial)
  find_library(CTNN_HDF5_LIBRARY NAMES hdf5_serial hdf5 PATH_SUFFIXES hdf5/serial)
  if(CTNN_HDF5_INCLUDE_DIR AND CTNN_HDF5_LIBRARY)
    add_library(ctnn::hdf5 UNKNOWN IMPORTED)
    set_target_properties(ctnn::hdf5 PROPERTIES
      IMPORTED_LOCATION "${CTNN_HDF5_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${CTNN_HDF5_INCLUDE_DIR}")
  endif()
endif()
