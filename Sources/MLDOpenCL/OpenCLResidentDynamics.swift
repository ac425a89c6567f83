import COpenCL
import Foundation
import MLD

/// Device-resident steps on an `OpenCLBackend` (`mld run --backend opencl --resident`):
/// positions, velocities and forces stay on the device in double precision, the kick, drift
/// (with wrapping into the force kernels' layout) and the thermostat's velocity scaling run as
/// the kernels of Kernels/integrate.cl, and the neighbour list is rebuilt when an atom moved more
/// than half the skin since the last build (decided on the host from the drift's reduction, so
/// no kernel is launched just to return).
///
/// Per step the host reads a few sums per work-group (G rows of 2 to 4 doubles: the largest
/// move, the kinetic sums, the net force, the work), the 32 status bytes, and, for a massive
/// thermostat, `m |v|^2` per atom (8 bytes per atom) with the scale factors sent back (8 bytes
/// per atom); positions and velocities come back only on output and checkpoint steps. Needs fp64
/// (any precision of the force kernels: the integration is in double).
public final class OpenCLResidentDynamics: ResidentDynamics {
    public let backend: OpenCLBackend
    let ctx: CLContext
    let n: Int
    let masses: [Double]
    let q, v, qref, dq: CLBuffer<SIMD4<Double>>
    let mass, accel, scales, kinetic: CLBuffer<Double>
    let partial: CLBuffer<Double>
    let kScale, kKickDrift, kNet, kCorrectKick: CLKernel
    /// Work-items per group and groups of every reduction (fixed for a given N and device, so
    /// every sum is the same from run to run and across a resume).
    let local: Int, groups: Int
    private var rows: [Double]
    private var rebuildDue = true
    private var hostScales: [Double] = []

    /// Resident steps for the atoms of `backend` with `masses` in u (model order of the
    /// backend's species, one per atom).
    public init(backend: OpenCLBackend, masses: [Double]) throws {
        guard backend.accDouble else {
            throw MLDError.backend("--resident needs an OpenCL device with fp64 (cl_khr_fp64): the integration runs in double; \(backend.ctx.device.info.name) has none")
        }
        guard masses.count == backend.n else {
            throw MLDError.backend("\(masses.count) masses for an OpenCL backend built for \(backend.n) atoms")
        }
        self.backend = backend
        ctx = backend.ctx
        n = backend.n
        self.masses = masses
        q = try ctx.buffer(SIMD4<Double>.self, count: n, what: "the resident positions")
        v = try ctx.buffer(SIMD4<Double>.self, count: n, what: "the resident velocities")
        qref = try ctx.buffer(SIMD4<Double>.self, count: n, what: "the positions at the last build")
        dq = try ctx.buffer(SIMD4<Double>.self, count: n, what: "the step's displacements")
        mass = try ctx.buffer(Double.self, count: n, what: "the masses")
        accel = try ctx.buffer(Double.self, count: n, what: "the accelerations per force")
        scales = try ctx.buffer(Double.self, count: n, what: "the thermostat's scale factors")
        kinetic = try ctx.buffer(Double.self, count: n, what: "the kinetic terms per atom")
        try mass.write(masses)
        try accel.write(masses.map { Units.forceOverMass / $0 })
        local = DeviceNeighbourList.powerOfTwo(atMost: min(256, ctx.device.maxWorkGroupSize))
        groups = max(1, min(256, (n + local - 1) / local))
        partial = try ctx.buffer(Double.self, count: groups * 4, what: "the reduction rows")
        rows = [Double](repeating: 0, count: groups * 4)
        kScale = try backend.program.kernel("md_scale")
        kKickDrift = try backend.program.kernel("md_kick_drift")
        kNet = try backend.program.kernel("md_net_force")
        kCorrectKick = try backend.program.kernel("md_correct_kick")
    }

    public var bytesMoved: Int { ctx.bytesUp + ctx.bytesDown }
    public var phaseSeconds: [String: Double] { ctx.profiler?.seconds ?? [:] }
    public var profiling: Bool {
        get { ctx.profiler != nil }
        set { ctx.profiler = newValue ? (ctx.profiler ?? CLProfiler()) : nil }
    }

    static func pack(_ x: [SIMD3<Double>]) -> [SIMD4<Double>] { x.map { SIMD4($0.x, $0.y, $0.z, 0) } }

    public func load(positions: [SIMD3<Double>], velocities: [SIMD3<Double>], forces: [SIMD3<Double>]) throws {
        guard positions.count == n, velocities.count == n, forces.count == n else {
            throw MLDError.backend("resident state of \(positions.count) atoms for an OpenCL backend built for \(n) atoms")
        }
        ctx.profiler?.phase = "upload"
        try q.write(Self.pack(positions))
        try qref.write(Self.pack(positions))
        try v.write(Self.pack(velocities))
        try backend.forcesBuffer.write(Self.pack(forces))
        // The force kernels' positions, staged as the host path stages them.
        var stager = PositionStager(precision: backend.precision, box: backend.box)
        stager.stage(positions)
        try stager.upload(to: backend.positionsBuffer)
        rebuildDue = true
    }

    public func download(positions: inout [SIMD3<Double>], velocities: inout [SIMD3<Double>],
                         forces: inout [SIMD3<Double>]) throws {
        ctx.profiler?.phase = "download (output steps)"
        for (buffer, array) in [(q, 0), (v, 1), (backend.forcesBuffer, 2)] {
            var out = [SIMD3<Double>](repeating: .zero, count: n)
            // double4 on the device is SIMD3<Double>'s 32-byte layout.
            try out.withUnsafeMutableBytes { try buffer.read(raw: $0) }
            switch array {
            case 0: positions = out
            case 1: velocities = out
            default: forces = out
            }
        }
        ctx.profiler?.collect()
    }

    /// Runs `kernel` over the atoms in `groups` groups of `local` work-items and reads its K
    /// values per group.
    private func reduce(_ kernel: CLKernel, k: Int, scratchArg: Int) throws -> ArraySlice<Double> {
        try kernel.setLocal(scratchArg, bytes: local * k * 8)
        try kernel.enqueue(ctx, global: groups * local, local: local)
        ctx.profiler?.phase = "reductions read"
        try rows.withUnsafeMutableBytes {
            try partial.read(raw: UnsafeMutableRawBufferPointer(rebasing: $0[0..<(groups * k * 8)]), offset: 0)
        }
        return rows[0..<(groups * k)]
    }

    private func sums(_ r: ArraySlice<Double>, k: Int) -> [Double] {
        var s = [Double](repeating: 0, count: k)
        for g in 0..<groups { for j in 0..<k { s[j] += r[g * k + j] } }
        return s
    }

    private func readKinetic(into perAtomKinetic: inout [Double]?) throws {
        guard perAtomKinetic != nil else { return }
        if perAtomKinetic!.count != n { perAtomKinetic = [Double](repeating: 0, count: n) }
        ctx.profiler?.phase = "thermostat per atom"
        try perAtomKinetic!.withUnsafeMutableBytes { try kinetic.read(raw: $0) }
    }

    public func scale(_ scale: Double, perAtomScale: [Double]?, shift: SIMD3<Double>,
                      perAtomKinetic: inout [Double]?) throws -> (momentum: SIMD3<Double>, twiceKinetic: Double) {
        if let perAtomScale {
            ctx.profiler?.phase = "thermostat per atom"
            try perAtomScale.withUnsafeBytes { try scales.write(raw: $0) }
        }
        ctx.profiler?.phase = "integrate"
        let k = kScale
        try k.set(0, v); try k.set(1, mass); try k.set(2, Int32(n)); try k.set(3, scales)
        try k.set(4, Int32(perAtomScale == nil ? 0 : 1)); try k.set(5, scale)
        try k.set(6, SIMD4(shift.x, shift.y, shift.z, 0)); try k.set(7, kinetic)
        try k.set(8, Int32(perAtomKinetic == nil ? 0 : 1)); try k.set(9, partial)
        let s = sums(try reduce(k, k: 4, scratchArg: 10), k: 4)
        try readKinetic(into: &perAtomKinetic)
        ctx.profiler?.collect()
        return (SIMD3(s[0], s[1], s[2]), s[3])
    }

    public func kickDrift(scale: Double, shift: SIMD3<Double>, h: Double, dt: Double) throws
        -> (largestMove: Double, atom: Int, movedSinceBuild: Double, work: Double) {
        ctx.profiler?.phase = "integrate"
        let k = kKickDrift, L = backend.box.lengths
        try k.set(0, q); try k.set(1, v); try k.set(2, backend.forcesBuffer); try k.set(3, accel)
        try k.set(4, Int32(n)); try k.set(5, scale); try k.set(6, SIMD4(shift.x, shift.y, shift.z, 0))
        try k.set(7, h); try k.set(8, dt); try k.set(9, qref); try k.set(10, dq)
        try k.set(11, backend.positionsBuffer); try k.set(12, SIMD4(L.x, L.y, L.z, 0)); try k.set(13, partial)
        let r = try reduce(k, k: 4, scratchArg: 14)
        var most = 0.0, atom = -1, since = 0.0, work = 0.0
        for g in 0..<groups {
            let d2 = r[g * 4], e2 = r[g * 4 + 2]
            if (d2.isNaN && !most.isNaN) || d2 > most { most = d2; atom = Int(r[g * 4 + 1]) }
            if e2.isNaN || e2 > since { since = e2 }
            work += r[g * 4 + 3]
        }
        ctx.profiler?.collect()
        let half = 0.5 * backend.skin
        if !(since <= half * half) { rebuildDue = true }
        return (most.squareRoot(), atom, since.squareRoot(), work)
    }

    public func computeForces(losses: inout [Double]?) throws -> SIMD3<Double> {
        var none: [SIMD3<Double>]? = nil
        if try backend.evaluate(rebuild: rebuildDue, forces: &none, losses: &losses) {
            // The lists now hold the current positions: they are the new reference.
            try q.enqueueCopy(to: qref)
        }
        rebuildDue = false
        ctx.profiler?.phase = "integrate"
        try kNet.set(0, backend.forcesBuffer); try kNet.set(1, Int32(n)); try kNet.set(2, partial)
        let s = sums(try reduce(kNet, k: 3, scratchArg: 3), k: 3)
        ctx.profiler?.collect()
        return SIMD3(s[0], s[1], s[2])
    }

    public func correctAndKick(comAcceleration a: SIMD3<Double>, removeCentreOfMass: Bool, h: Double,
                               perAtomKinetic: inout [Double]?) throws -> (work: Double, twiceKinetic: Double) {
        ctx.profiler?.phase = "integrate"
        let k = kCorrectKick
        try k.set(0, backend.forcesBuffer); try k.set(1, v); try k.set(2, mass); try k.set(3, accel)
        try k.set(4, Int32(n)); try k.set(5, SIMD4(a.x, a.y, a.z, 0)); try k.set(6, Int32(removeCentreOfMass ? 1 : 0))
        try k.set(7, h); try k.set(8, dq); try k.set(9, kinetic); try k.set(10, Int32(perAtomKinetic == nil ? 0 : 1))
        try k.set(11, partial)
        let s = sums(try reduce(k, k: 2, scratchArg: 12), k: 2)
        try readKinetic(into: &perAtomKinetic)
        ctx.profiler?.collect()
        return (s[0], s[1])
    }
}
