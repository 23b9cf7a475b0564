# Defines ctnn::stb, the compiled stb image libraries (Debian's libstb-dev: stb_image to read
# PNG/JPEG/BMP/PGM, stb_image_write to write PNG), included as <stb/stb_image.h>.
if(NOT TARGET ctnn::stb)
  find_path(CTNN_STB_INCLUDE_DIR stb/stb_image.h)
  find_library(CTNN_STB_LIBRARY NAMES stb)
  if(CTNN_STB_INCLUDE_DIR AND CTNN_STB_LIBRARY)
    add_library(ctnn::stb UNKNOWN IMPORTED)
    set_target_properties(ctnn::stb PROPERTIES
      IMPORTED_LOCATION "${CTNN_STB_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${CTNN_STB_INCLUDE_DIR}")
  endif()
endif()
