import COpenCL
import Foundation
import MLD

/// The OpenCL force backend: neighbour list, invariants and loss gradients on the device
/// (Kernels/*.cl), the integrator on the host. Buffers stay on the device between steps; each
/// step uploads the positions (32 bytes per atom) and downloads the forces (32 bytes per atom),
/// plus the losses when asked. `transfer` records the time those copies take.
///
/// Precision: `.single` (default) forms displacements from float hi/lo position pairs and
/// distances in float, and accumulates g = w + W phi, the loss and the forces in double when
/// the device has fp64 (Kahan-compensated float otherwise); `.double` does everything in double.
public final class OpenCLBackend: ForceBackend {
    public let name = "opencl"
    public var deviceName: String { "\(ctx.device.info.name) (\(ctx.device.info.platform), \(precision.rawValue))" }
    public private(set) var neighbourListBuilds = 0
    public let precision: OpenCLPrecision
    public let model: OpenCLModel
    public let box: Box
    /// Verlet skin in Å.
    public let skin: Double

    /// Seconds the host spent wrapping, staging and enqueueing the positions' upload: total, and
    /// last step (the copies run without the host waiting; their device times are in
    /// `phaseSeconds` while `profiling`).
    public private(set) var transferSeconds = 0.0, lastTransferSeconds = 0.0
    /// Seconds the host waited for the kernels and the forces' download, total.
    public private(set) var kernelSeconds = 0.0
    /// Force evaluations so far.
    public private(set) var evaluations = 0
    /// How often the neighbour list overflowed its capacity and was grown and rebuilt.
    public private(set) var neighbourListOverflows = 0

    let ctx: CLContext
    let program: CLProgram
    private(set) var nl: DeviceNeighbourList
    let n: Int
    let p: Int
    /// Species index of every atom (model order).
    let species: [Int]
    let accDouble: Bool
    var stager: PositionStager
    let positionsBuffer: CLBuffer<SIMD4<Double>>
    let speciesBuffer: CLBuffer<Int32>
    let phi: CLBuffer<Double>
    let selected: CLBuffer<Int32>?
    let w, W: CLBuffer<Double>
    let forcesBuffer: CLBuffer<SIMD4<Double>>
    let lossesBuffer: CLBuffer<Double>
    let kInvariants, kGradient: CLKernel
    /// Labelled angles and angular sums (Kernels/angular.cl), when the model has them.
    let kAngular: CLKernel?
    /// Conservative agents: the two passes of Kernels/conservative.cl in place of kGradient.
    let conservativePass: ConservativePass?
    var forceRebuild = true
    /// Host copies of float forces and losses (devices without fp64).
    private var floatForces: [SIMD4<Float>] = [], floatLosses: [Float] = []
    /// Whether w and W are __constant (false: __global, MLD_W_GLOBAL, because they exceed the
    /// device's CL_DEVICE_MAX_CONSTANT_BUFFER_SIZE).
    public let lossParametersInConstantMemory: Bool
    /// Whether the per-neighbour functions (radial basis and cutoff, angular exponentials and
    /// powers) are evaluated in float (MLD_FN_FLOAT: single precision on GPUs).
    public let floatFunctions: Bool
    /// Host-side blocking calls and kernel launches of the last `computeForces`.
    public private(set) var lastBlockingCalls = 0, lastLaunches = 0

    /// A backend for `species` (model order, one per atom) in `box`. `device` is an index of
    /// `mld devices`; nil picks the first GPU, else the first device.
    public convenience init(model: OpenCLModel, species: [Int], box: Box, device: Int? = nil,
                precision: OpenCLPrecision = .single, skin: Double = 1.0) throws {
        try self.init(model: model, species: species, box: box, device: device, precision: precision, skin: skin,
                      accumulateInDouble: nil)
    }

    /// `accumulateInDouble: false` uses float + Kahan sums even where the device has fp64 (to
    /// test the path devices without fp64 take); `agentMajor` overrides the per-agent array
    /// layout chosen from the device type (to test the GPU layout on a CPU device),
    /// `selectNetwork` the `nearest` selection chosen from it, and `angularCache` the per-agent
    /// cache of the angular sums (`angularCache(model:atoms:box:)`; to test its overflow path).
    /// `constantLimit`, `memoryLimit` and `allocationLimit` (bytes) stand in for the device's
    /// constant memory, global memory and largest buffer, and `floatFunctions` for the choice of
    /// float per-neighbour functions by device type (tests of what GPUs do, on any device).
    init(model: OpenCLModel, species: [Int], box: Box, device: Int?, precision: OpenCLPrecision, skin: Double,
         accumulateInDouble: Bool?, agentMajor: Bool? = nil, selectNetwork: Bool? = nil,
         angularCache: Int? = nil, constantLimit: Int? = nil, memoryLimit: Int? = nil,
         allocationLimit: Int? = nil, floatFunctions: Bool? = nil) throws {
        let n = species.count
        let p = model.invariantCount
        guard model.linear.count == model.speciesNames.count, model.quadratic.count == model.speciesNames.count,
              model.linear.allSatisfy({ $0.count == p }), model.quadratic.allSatisfy({ $0.count == p * p }) else {
            throw MLDError.backend("OpenCL backend: model parameters do not match \(p) invariants per agent")
        }
        if let bad = species.first(where: { $0 < 0 || $0 >= model.speciesNames.count }) {
            throw MLDError.backend("OpenCL backend: species index \(bad) outside the model's \(model.speciesNames.count) species")
        }
        if model.cutoff > box.shortestEdge / 2 {
            throw MLDError.backend(String(format: "OpenCL backend: cutoff %.3f Å exceeds half the shortest box edge (%.3f Å)", model.cutoff, box.shortestEdge / 2))
        }
        self.model = model
        self.box = box
        self.precision = precision
        self.skin = skin
        self.n = n
        self.p = p
        self.species = species
        ctx = try CLContext(device: try CLDevice.select(index: device))
        if let memoryLimit { ctx.memoryLimit = memoryLimit }
        if let allocationLimit { ctx.allocationLimit = allocationLimit }
        accDouble = precision == .double || (accumulateInDouble ?? ctx.accumulatesInDouble)
        // The nearest selection: a branch-free network in registers on GPUs, insertion into
        // private arrays on CPU devices (measured faster there), see Kernels/invariants.cl.
        var defines = model.defines
        if case .nearest = model.invariants, model.speciesNames.count <= 8,
           selectNetwork ?? (ctx.device.info.type == "GPU") {
            defines.append("MLD_SELECT_NETWORK")
        }
        if let cap = Self.angularCache(model: model, atoms: n, box: box) {
            defines.append("MLD_ANGULAR_CAP=\(angularCache ?? cap)")
        }
        // w and W as __constant only when they fit the device's constant memory, with 4 KB left
        // for the program's own __constant tables (NVIDIA: 64 KB in all).
        let parameterBytes = model.speciesNames.count * p * (p + 1) * (accDouble ? 8 : 4)
        lossParametersInConstantMemory = parameterBytes + 4096 <= (constantLimit ?? ctx.device.maxConstantBufferBytes)
        if !lossParametersInConstantMemory { defines.append("MLD_W_GLOBAL") }
        // Per-neighbour sqrt/exp/pow in float in single precision on GPUs (fp64 is 1/32 to 1/64
        // of the float rate on consumer GPUs); in acc elsewhere.
        self.floatFunctions = precision == .single && (floatFunctions ?? (ctx.device.info.type == "GPU"))
        if self.floatFunctions { defines.append("MLD_FN_FLOAT") }
        program = try ctx.mldProgram(precision: precision, defines: defines, accumulateInDouble: accDouble,
                                     agentMajor: agentMajor)
        nl = try DeviceNeighbourList(ctx: ctx, program: program, precision: precision, count: n, box: box,
                                     cutoff: Self.initialListCutoff(model: model, species: species, box: box), skin: skin)
        stager = PositionStager(precision: precision, box: box)
        positionsBuffer = try ctx.buffer(SIMD4<Double>.self, count: n, what: "the positions")
        speciesBuffer = try ctx.buffer(Int32.self, count: n, what: "the species")
        try speciesBuffer.write(species.map(Int32.init))
        phi = try ctx.buffer(Double.self, count: p * n, what: "the invariants")
        let wb = try ctx.buffer(Double.self, count: model.speciesNames.count * p, what: "w")
        let Wb = try ctx.buffer(Double.self, count: model.speciesNames.count * p * p, what: "W")
        let wFlat = model.linear.flatMap { $0 }, WFlat = model.quadratic.flatMap { $0 }
        if accDouble {
            try wb.write(wFlat); try Wb.write(WFlat)
        } else {
            try wFlat.map(Float.init).withUnsafeBytes { try wb.write(raw: $0) }
            try WFlat.map(Float.init).withUnsafeBytes { try Wb.write(raw: $0) }
        }
        w = wb
        W = Wb
        forcesBuffer = try ctx.buffer(SIMD4<Double>.self, count: n, what: "the forces")
        lossesBuffer = try ctx.buffer(Double.self, count: n, what: "the losses")
        if let problem = model.unsupportedProblem {
            throw MLDError.model(file: "model", problem: "OpenCL backend: \(problem)")
        }
        switch model.invariants {
        case .nearest:
            selected = try ctx.buffer(Int32.self, count: model.distanceCount * n, what: "the selected neighbours")
            kInvariants = try program.kernel("invariants_nearest")
            kGradient = try program.kernel("gradient_nearest")
        case .radial:
            selected = nil
            kInvariants = try program.kernel("invariants_radial")
            kGradient = try program.kernel("gradient_radial")
        }
        kAngular = model.hasAngularBlocks ? try program.kernel("invariants_angular") : nil
        conservativePass = model.conservative
            ? try ConservativePass(ctx: ctx, program: program, atoms: n, accumulateInDouble: accDouble) : nil
    }

    /// Neighbours within the angular cutoff cached per agent by Kernels/angular.cl: 1.5 times
    /// the mean count at the system's density plus 16 (an agent with more takes the uncached
    /// path), or 0 when the cache would exceed 1,024 words per work-item; nil without sums.
    static func angularCache(model: OpenCLModel, atoms n: Int, box: Box) -> Int? {
        guard let sums = model.angularSums else { return nil }
        let rc = sums.cutoff
        let expected = Double(n) / box.volume * 4 / 3 * Double.pi * rc * rc * rc
        let cap = min(Int(1.5 * expected) + 16, max(n - 1, 1))
        return cap * (6 + 2 * sums.functions.count) > 1024 ? 0 : cap
    }

    /// The first neighbour-list cutoff in Å. `radial`: the cutoff. `nearest`: like the CPU
    /// backend, the radius that holds on average 1.4 times the needed count of every species,
    /// plus 0.3 Å, at most the search radius; an agent that needs more lengthens the list.
    /// Never below the angular cutoff (`fixedRange`): the angular sums take every neighbour of
    /// the list within it.
    static func initialListCutoff(model: OpenCLModel, species: [Int], box: Box) -> Double {
        guard case let .nearest(counts, _, search) = model.invariants else { return model.cutoff }
        var n = [Int](repeating: 0, count: counts.count)
        for s in species { n[s] += 1 }
        var r = 0.0
        for (s, c) in counts.enumerated() where c > 0 {
            let density = Double(max(n[s], 1)) / box.volume
            r = max(r, pow(3 * 1.4 * Double(c + 1) / (4 * Double.pi * density), 1.0 / 3))
        }
        return max(model.fixedRange, min(search, r + 0.3))
    }

    /// The neighbour list's cutoff in Å (for `nearest` it may be shorter than the search radius,
    /// never shorter than an angular cutoff).
    public var listCutoff: Double { nl.cutoff }

    /// Device memory held, in bytes.
    public var deviceBytes: Int {
        nl.deviceBytes + positionsBuffer.bytes + speciesBuffer.bytes + phi.bytes + (selected?.bytes ?? 0)
            + w.bytes + W.bytes + forcesBuffer.bytes + lossesBuffer.bytes + (conservativePass?.deviceBytes ?? 0)
    }

    /// Bytes copied between host and device so far (both ways).
    public var bytesMoved: Int { ctx.bytesUp + ctx.bytesDown }
    /// Whether every command carries a profiling event (device seconds per phase in `phaseSeconds`).
    public var profiling: Bool {
        get { ctx.profiler != nil }
        set { ctx.profiler = newValue ? (ctx.profiler ?? CLProfiler()) : nil }
    }
    /// Device seconds per phase so far while `profiling` (upload, neighbour list, forces,
    /// download; the resident path adds integrate, reductions read, thermostat per atom).
    public var phaseSeconds: [String: Double] { ctx.profiler?.seconds ?? [:] }

    /// Neighbours stored per agent (grows on overflow).
    public var neighbourCapacity: Int { nl.capacity }

    /// The invariants of every agent at the last `computeForces`, agent-major (phi of atom k at
    /// `k * P ..< (k + 1) * P`), as the kernels computed them.
    public func invariants() throws -> [Double] {
        var raw = [Double](repeating: 0, count: p * n)
        if accDouble {
            try raw.withUnsafeMutableBytes { try phi.read(raw: $0) }
        } else {
            var f = [Float](repeating: 0, count: p * n)
            try f.withUnsafeMutableBytes { try phi.read(raw: $0) }
            raw = f.map(Double.init)
        }
        let order = try nl.order.read()
        var out = [Double](repeating: 0, count: p * n)
        for i in 0..<n {
            let k = Int(order[i])
            for a in 0..<p { out[k * p + a] = raw[program.agentMajor ? i * p + a : a * n + i] }
        }
        return out
    }

    /// The device's neighbour lists, per atom, sorted (diagnostics and tests).
    public func neighbourLists() throws -> [[Int]] { try nl.lists() }

    public func computeForces(positions: [SIMD3<Double>], forces: inout [SIMD3<Double>],
                              losses: inout [Double]?) throws {
        guard positions.count == n else {
            throw MLDError.backend("\(positions.count) positions for an OpenCL backend built for \(n) atoms")
        }
        let calls0 = ctx.blockingCalls, launches0 = ctx.launches
        let t0 = DispatchTime.now().uptimeNanoseconds
        // The host sees every position, so it decides the rebuild itself (no displacement kernel,
        // no build kernels launched just to return): past half the skin since the last build.
        let moved2 = stager.stage(positions)
        ctx.profiler?.phase = "upload"
        try stager.enqueueUpload(to: positionsBuffer)
        let t1 = DispatchTime.now().uptimeNanoseconds
        var out: [SIMD3<Double>]? = forces
        forces = []
        let tRead = DispatchTime.now().uptimeNanoseconds
        if try evaluate(rebuild: forceRebuild || !(moved2 <= 0.25 * skin * skin), forces: &out, losses: &losses) {
            stager.markBuilt()
        }
        forces = out!
        forceRebuild = false
        ctx.profiler?.collect()
        let t3 = DispatchTime.now().uptimeNanoseconds
        lastTransferSeconds = Double(t1 - t0) * 1e-9
        transferSeconds += lastTransferSeconds
        kernelSeconds += Double(t3 - tRead) * 1e-9
        lastBlockingCalls = ctx.blockingCalls - calls0
        lastLaunches = ctx.launches - launches0
        evaluations += 1
    }

    /// The force kernels on the positions already in `positionsBuffer`, rebuilding the lists
    /// first when `rebuild` (and again, grown or lengthened, when the status words ask for it).
    /// With `forces` the forces are read back (the step's one blocking call); without, the status
    /// words are (the forces stay on the device). Returns whether the lists were rebuilt.
    func evaluate(rebuild initial: Bool, forces: inout [SIMD3<Double>]?, losses: inout [Double]?) throws -> Bool {
        var rebuild = initial, rebuilt = false
        if let f = forces, f.count != n { forces = Array(repeating: .zero, count: n) }
        while true {
            try nl.resetStatus(forceRebuild: rebuild)
            ctx.profiler?.phase = "neighbour list"
            try nl.enqueueUpdate(positions: positionsBuffer, rebuild: rebuild)
            ctx.profiler?.phase = "forces"
            try enqueueInvariantsAndGradient()
            ctx.profiler?.phase = "download"
            if forces != nil {
                try nl.enqueueStatusRead()
                // The queue is in order: the status words and the losses arrive with the forces.
                try readForces(into: &forces!, losses: &losses)
            } else {
                if losses != nil {
                    if losses!.count != n { losses = Array(repeating: 0, count: n) }
                    try losses!.withUnsafeMutableBytes { try lossesBuffer.enqueueRead(raw: $0) }
                }
                try nl.readStatusWords()
            }
            let status = nl.statusWords
            if rebuild { neighbourListBuilds += 1; rebuilt = true }
            let needed = Int(status[DeviceStatus.maxCount])
            if needed > nl.capacity {
                // Overflow: grow with 25 % headroom and rebuild; nothing computed is used.
                neighbourListOverflows += 1
                try nl.grow(to: needed + needed / 4 + 8)
                rebuild = true
                continue
            }
            let need2 = Float(bitPattern: UInt32(bitPattern: status[DeviceStatus.needRadius2]))
            if need2 > 0, case let .nearest(_, _, search) = model.invariants, nl.cutoff < search {
                // Some agent's n_B-th nearest lies beyond the list: lengthen it and start over
                // (the old lists are freed before the new ones are allocated).
                let r = max(model.fixedRange, min(search, max(Double(need2).squareRoot() * 1.05, nl.cutoff * 1.1)))
                nl.release()
                nl = try DeviceNeighbourList(ctx: ctx, program: program, precision: precision, count: n,
                                             box: box, cutoff: r, skin: skin)
                rebuild = true
                continue
            }
            if status[DeviceStatus.shortAgent] != Int32.max { throw shortError(Int(status[DeviceStatus.shortAgent])) }
            try conservativePass?.check(status)
            return rebuilt
        }
    }

    /// Enqueues the losses' read (when asked) and reads the forces, waiting for the queue.
    private func readForces(into forces: inout [SIMD3<Double>], losses: inout [Double]?) throws {
        if accDouble {
            if losses != nil {
                if losses!.count != n { losses = Array(repeating: 0, count: n) }
                try losses!.withUnsafeMutableBytes { try lossesBuffer.enqueueRead(raw: $0) }
            }
            // double4 on the device is SIMD3<Double>'s 32-byte layout: copy straight in.
            try forces.withUnsafeMutableBytes { try forcesBuffer.read(raw: $0) }
        } else {
            if floatForces.count != n { floatForces = Array(repeating: .zero, count: n) }
            if losses != nil {
                if floatLosses.count != n { floatLosses = Array(repeating: 0, count: n) }
                try floatLosses.withUnsafeMutableBytes { try lossesBuffer.enqueueRead(raw: $0) }
            }
            try floatForces.withUnsafeMutableBytes { try forcesBuffer.read(raw: $0) }
            for i in 0..<n { forces[i] = SIMD3(Double(floatForces[i].x), Double(floatForces[i].y), Double(floatForces[i].z)) }
            if losses != nil { losses = floatLosses.map(Double.init) }
        }
    }

    private func enqueueInvariantsAndGradient() throws {
        let n32 = Int32(n)
        let k = kInvariants, g = kGradient
        try k.set(0, positionsBuffer); try k.set(1, n32); try k.setPos(2, box.lengths, precision)
        try k.set(3, speciesBuffer); try k.set(4, nl.order); try k.set(5, nl.nbr); try k.set(6, nl.nbrCount)
        try k.set(7, Int32(nl.capacity))
        try g.set(0, positionsBuffer); try g.set(1, n32); try g.setPos(2, box.lengths, precision)
        try g.set(3, speciesBuffer); try g.set(4, nl.order); try g.set(5, phi)
        switch model.invariants {
        case let .nearest(_, _, r):
            try k.setReal(8, r * r, precision); try k.setReal(9, nl.cutoff * nl.cutoff, precision)
            try k.set(10, phi); try k.set(11, selected!); try k.set(12, nl.status)
            try g.set(6, selected!); try g.set(7, nl.nbr); try g.set(8, nl.nbrCount); try g.set(9, Int32(nl.capacity))
            try g.set(10, w); try g.set(11, W); try g.set(12, forcesBuffer); try g.set(13, lossesBuffer)
        case .radial:
            try k.set(8, phi)
            try g.set(6, nl.nbr); try g.set(7, nl.nbrCount); try g.set(8, Int32(nl.capacity))
            try g.set(9, w); try g.set(10, W); try g.set(11, forcesBuffer); try g.set(12, lossesBuffer)
        }
        try k.enqueue(ctx, global: n, local: nl.groupSize)
        if let a = kAngular {
            try a.set(0, positionsBuffer); try a.set(1, n32); try a.setPos(2, box.lengths, precision)
            try a.set(3, speciesBuffer); try a.set(4, nl.order); try a.set(5, nl.nbr); try a.set(6, nl.nbrCount)
            try a.set(7, Int32(nl.capacity))
            // sel: the nearest slots (labelled angles); a radial model has none and passes any int buffer.
            try a.set(8, selected ?? speciesBuffer); try a.set(9, phi)
            try a.enqueue(ctx, global: n, local: nl.groupSize)
        }
        if let c = conservativePass { try c.enqueue(self) } else { try g.enqueue(ctx, global: n, local: nl.groupSize) }
    }

    private func shortError(_ code: Int) -> MLDError {
        let s = model.speciesNames.count
        let agent = code / s, b = code % s
        guard case let .nearest(counts, _, r) = model.invariants else { return .backend("OpenCL backend: bad status \(code)") }
        return .backend(String(format: "agent %d (%@): fewer than %d atoms of %@ within the model's search radius %.3f Å",
                               agent, model.speciesNames[species[agent]], counts[b], model.speciesNames[b], r))
    }
}
