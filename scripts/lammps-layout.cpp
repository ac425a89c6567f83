// Prints the byte offsets of the LAMMPS C++ members mld lammps reads (Sources/mld/LammpsInternals.swift).
// Debian 12 (liblammps-dev 20220106, LAMMPS 29 Sep 2021; its headers need fmt's make_args_checked,
// gone from libfmt-dev 9, hence the shim):
//   apt-get install -y liblammps-dev libfmt-dev
//   printf '#include <fmt/format.h>\nnamespace fmt { template<class... A, class S> auto make_args_checked(const S&, const A&... a) { return fmt::make_format_args(a...); } }\n' > /tmp/fmtshim.h
//   g++ -w -include /tmp/fmtshim.h -I/usr/lib/x86_64-linux-gnu/openmpi/include -I/usr/include/lammps \
//       scripts/lammps-layout.cpp -o /tmp/lammps-layout -llammps -lfmt -lmpi_cxx -lmpi && /tmp/lammps-layout
#include <mpi.h>
#include <cstddef>
#include <cstdio>
#include <lammps/lammps.h>
#include <lammps/comm.h>
#include <lammps/neighbor.h>
using namespace LAMMPS_NS;
int main() {
    std::printf("LAMMPS::neighbor %zu\nLAMMPS::comm %zu\n", offsetof(LAMMPS, neighbor), offsetof(LAMMPS, comm));
    std::printf("Neighbor::every %zu\nNeighbor::delay %zu\nNeighbor::dist_check %zu\nNeighbor::skin %zu\n",
                offsetof(Neighbor, every), offsetof(Neighbor, delay), offsetof(Neighbor, dist_check), offsetof(Neighbor, skin));
    std::printf("Comm::me %zu\nComm::nprocs %zu\nComm::cutghost %zu\n", offsetof(Comm, me), offsetof(Comm, nprocs), offsetof(Comm, cutghost));
}
