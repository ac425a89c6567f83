import Foundation
import MLD

/// liblammps's C interface (`library.h`), loaded at run time with dlopen, so that mld builds and
/// runs without LAMMPS and only `mld lammps` needs it.
///
/// The library is `liblammps.so.0` (Debian's `liblammps0`), or the file `MLD_LAMMPS_LIBRARY`
/// names. It is loaded with RTLD_GLOBAL, so the MPI library it links is visible to `MPIWorld`.
/// Integer sizes are Debian's build (LAMMPS_SMALLBIG: atom ids `int`, step numbers `int64_t`).
final class LammpsLibrary {
    /// `FixExternalFnPtr`: (caller pointer, timestep, nlocal, atom ids, x, fexternal).
    typealias FixCallback = @convention(c) (UnsafeMutableRawPointer?, Int64, Int32, UnsafeMutablePointer<Int32>?,
                                            UnsafeMutablePointer<UnsafeMutablePointer<Double>?>?,
                                            UnsafeMutablePointer<UnsafeMutablePointer<Double>?>?) -> Void

    let open: @convention(c) (Int32, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> UnsafeMutableRawPointer?
    let close: @convention(c) (UnsafeMutableRawPointer?) -> Void
    let mpiFinalize: @convention(c) () -> Void
    let command: @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?) -> UnsafeMutablePointer<CChar>?
    let extractSetting: @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?) -> Int32
    let extractGlobal: @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?) -> UnsafeMutableRawPointer?
    let extractAtom: @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?) -> UnsafeMutableRawPointer?
    let hasID: @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Int32
    let setCallback: @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?, FixCallback?, UnsafeMutableRawPointer?) -> Void
    let setEnergy: @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?, Double) -> Void
    let version: @convention(c) (UnsafeMutableRawPointer?) -> Int32
    let mpiComm: @convention(c) (UnsafeMutableRawPointer?) -> Int32
    /// Where the library was loaded from.
    let path: String

    /// The library's file name, or `MLD_LAMMPS_LIBRARY`.
    static var defaultPath: String { ProcessInfo.processInfo.environment["MLD_LAMMPS_LIBRARY"] ?? "liblammps.so.0" }

    /// Loads the library and every function mld calls.
    /// - Throws: `MLDError.usage` in one line when the library or a function is missing.
    init(path: String = LammpsLibrary.defaultPath) throws {
        guard let handle = dlopen(path, RTLD_NOW | RTLD_GLOBAL) else {
            let why = dlerror().map { String(cString: $0) } ?? "unknown reason"
            throw MLDError.usage("no LAMMPS library at run time: \(why) (install liblammps-dev, or set MLD_LAMMPS_LIBRARY to liblammps.so)")
        }
        self.path = path
        func symbol<T>(_ name: String, _: T.Type) throws -> T {
            guard let p = dlsym(handle, name) else {
                throw MLDError.usage("\(path) has no function \(name) (mld lammps needs the C library interface of LAMMPS 29 Sep 2021 or later)")
            }
            return unsafeBitCast(p, to: T.self)
        }
        open = try symbol("lammps_open_no_mpi", type(of: open))
        close = try symbol("lammps_close", type(of: close))
        mpiFinalize = try symbol("lammps_mpi_finalize", type(of: mpiFinalize))
        command = try symbol("lammps_command", type(of: command))
        extractSetting = try symbol("lammps_extract_setting", type(of: extractSetting))
        extractGlobal = try symbol("lammps_extract_global", type(of: extractGlobal))
        extractAtom = try symbol("lammps_extract_atom", type(of: extractAtom))
        hasID = try symbol("lammps_has_id", type(of: hasID))
        setCallback = try symbol("lammps_set_fix_external_callback", type(of: setCallback))
        setEnergy = try symbol("lammps_fix_external_set_energy_global", type(of: setEnergy))
        version = try symbol("lammps_version", type(of: version))
        mpiComm = try symbol("lammps_get_mpi_comm", type(of: mpiComm))
    }
}

/// The few MPI calls mld makes itself, found in the MPI library liblammps loaded (Open MPI's
/// symbols), so mld does not link MPI: agreeing across ranks on whether some rank failed, and
/// summing the ranks' losses into the fix's energy.
final class MPIWorld {
    private typealias Allreduce = @convention(c) (UnsafeRawPointer?, UnsafeMutableRawPointer?, Int32,
                                                  UnsafeMutableRawPointer?, UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Int32
    private typealias CommF2C = @convention(c) (Int32) -> UnsafeMutableRawPointer?
    private let allreduce: Allreduce
    private let comm: UnsafeMutableRawPointer?
    private let int: UnsafeMutableRawPointer
    private let min: UnsafeMutableRawPointer
    private let double: UnsafeMutableRawPointer
    private let sum: UnsafeMutableRawPointer

    /// nil when the MPI library is not Open MPI (then a failure on one rank stops that rank, and
    /// mpirun the others).
    init?(fortranComm: Int32) {
        guard let a = dlsym(nil, "MPI_Allreduce"), let f = dlsym(nil, "MPI_Comm_f2c"),
              let i = dlsym(nil, "ompi_mpi_int"), let m = dlsym(nil, "ompi_mpi_op_min"),
              let d = dlsym(nil, "ompi_mpi_double"), let s = dlsym(nil, "ompi_mpi_op_sum") else { return nil }
        allreduce = unsafeBitCast(a, to: Allreduce.self)
        comm = unsafeBitCast(f, to: CommF2C.self)(fortranComm)
        int = i
        min = m
        double = d
        sum = s
    }

    /// The sum of `value` over all ranks.
    func total(_ value: Double) -> Double {
        var v = value, out = 0.0
        _ = allreduce(&v, &out, 1, double, sum, comm)
        return out
    }

    /// The smallest `value` over all ranks.
    func minimum(_ value: Int32) -> Int32 {
        var v = value, out: Int32 = 0
        _ = allreduce(&v, &out, 1, int, min, comm)
        return out
    }
}
