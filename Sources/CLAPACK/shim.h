// LAPACK through its C interface (Debian liblapacke-dev).
#ifndef MLD_CLAPACK_SHIM_H
#define MLD_CLAPACK_SHIM_H
#include <lapacke.h>
#include <cblas.h>
#endif
