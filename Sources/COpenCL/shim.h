// OpenCL 1.2 host API: the version every driver of interest (NVIDIA, PoCL) offers.
#ifndef MLD_COPENCL_SHIM_H
#define MLD_COPENCL_SHIM_H
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#endif
