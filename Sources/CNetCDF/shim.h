// The NetCDF C library (Debian libnetcdf-dev), for writing and reading AMBER NetCDF
// trajectories (trajectory.nc).
#ifndef MLD_CNETCDF_SHIM_H
#define MLD_CNETCDF_SHIM_H
#include <netcdf.h>
#endif
