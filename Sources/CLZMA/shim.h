// xz / LZMA decompression (Debian liblzma-dev), for reading .xyz.xz files.
#ifndef MLD_CLZMA_SHIM_H
#define MLD_CLZMA_SHIM_H
#include <lzma.h>
#endif
