import COpenCL
import Foundation
import MLD

/// One OpenCL device with the platform it belongs to, in `mld devices` order.
struct CLDevice {
    var platform: cl_platform_id?
    var id: cl_device_id?
    var info: OpenCLDeviceInfo

    /// Every device of every platform, in the order `OpenCLDeviceInfo.all()` lists them.
    static func all() -> [CLDevice] {
        let infos = OpenCLDeviceInfo.all()
        var n: cl_uint = 0
        guard clGetPlatformIDs(0, nil, &n) == CL_SUCCESS, n > 0 else { return [] }
        var platforms = [cl_platform_id?](repeating: nil, count: Int(n))
        guard clGetPlatformIDs(n, &platforms, nil) == CL_SUCCESS else { return [] }
        var out: [CLDevice] = []
        for p in platforms {
            var nd: cl_uint = 0
            guard clGetDeviceIDs(p, cl_device_type(CL_DEVICE_TYPE_ALL), 0, nil, &nd) == CL_SUCCESS, nd > 0 else { continue }
            var devices = [cl_device_id?](repeating: nil, count: Int(nd))
            guard clGetDeviceIDs(p, cl_device_type(CL_DEVICE_TYPE_ALL), nd, &devices, nil) == CL_SUCCESS else { continue }
            for d in devices where out.count < infos.count {
                out.append(CLDevice(platform: p, id: d, info: infos[out.count]))
            }
        }
        return out
    }

    /// The device `index` of `mld devices`, or (nil) the first GPU, else the first device.
    static func select(index: Int?) throws -> CLDevice {
        let devices = all()
        if devices.isEmpty {
            throw MLDError.backend("no OpenCL platform or device found (install an OpenCL driver, e.g. pocl-opencl-icd, or use --backend cpu)")
        }
        if let index {
            guard devices.indices.contains(index) else {
                throw MLDError.backend("no OpenCL device \(index): \(devices.count) device(s) found, numbered from 0 (see `mld devices`)")
            }
            return devices[index]
        }
        return devices.first { $0.info.type == "GPU" } ?? devices[0]
    }

    /// The largest single buffer the device allows, in bytes (CL_DEVICE_MAX_MEM_ALLOC_SIZE; a
    /// quarter of the memory on NVIDIA).
    var maxAllocationBytes: Int {
        let v: cl_ulong = deviceValue(id, cl_device_info(CL_DEVICE_MAX_MEM_ALLOC_SIZE))
        return Int(clamping: v)
    }

    /// Global memory in bytes (CL_DEVICE_GLOBAL_MEM_SIZE).
    var globalMemoryBytes: Int {
        let v: cl_ulong = deviceValue(id, cl_device_info(CL_DEVICE_GLOBAL_MEM_SIZE))
        return Int(clamping: v)
    }

    /// The largest __constant buffer argument, in bytes (CL_DEVICE_MAX_CONSTANT_BUFFER_SIZE; 64 KB
    /// on NVIDIA).
    var maxConstantBufferBytes: Int {
        let v: cl_ulong = deviceValue(id, cl_device_info(CL_DEVICE_MAX_CONSTANT_BUFFER_SIZE))
        return Int(clamping: v)
    }

    var maxWorkGroupSize: Int {
        var v: Int = 0
        _ = clGetDeviceInfo(id, cl_device_info(CL_DEVICE_MAX_WORK_GROUP_SIZE), MemoryLayout<Int>.size, &v, nil)
        return v
    }
}

/// An OpenCL context with one in-order command queue on one device.
final class CLContext {
    let device: CLDevice
    let context: cl_context
    let queue: cl_command_queue
    /// The largest buffer and the most memory in all this context may allocate, in bytes: the
    /// device's limits (tests lower them to see the refusal). A buffer beyond either is refused
    /// in one line before anything is enqueued on it.
    var allocationLimit: Int
    var memoryLimit: Int
    /// Bytes held by the live buffers of this context.
    fileprivate(set) var allocatedBytes = 0
    /// Calls that waited for the device (blocking reads and writes, clFinish) and kernels
    /// enqueued, since the context was made (tests count them per step).
    fileprivate(set) var blockingCalls = 0
    fileprivate(set) var launches = 0
    /// Bytes copied host to device and device to host since the context was made.
    fileprivate(set) var bytesUp = 0, bytesDown = 0
    /// When set, every enqueued command carries a profiling event and its device time is added
    /// to the profiler's current phase.
    var profiler: CLProfiler?

    init(device: CLDevice) throws {
        self.device = device
        var err: cl_int = 0
        var dev = device.id
        guard let ctx = clCreateContext(nil, 1, &dev, nil, nil, &err), err == CL_SUCCESS else {
            throw MLDError.backend("OpenCL clCreateContext on \(device.info.name) failed: \(clErrorName(err))")
        }
        context = ctx
        // Profiling enabled on the queue (events are only requested while a profiler is set).
        guard let q = clCreateCommandQueue(ctx, device.id, cl_command_queue_properties(CL_QUEUE_PROFILING_ENABLE), &err),
              err == CL_SUCCESS else {
            clReleaseContext(ctx)
            throw MLDError.backend("OpenCL clCreateCommandQueue on \(device.info.name) failed: \(clErrorName(err))")
        }
        queue = q
        allocationLimit = device.maxAllocationBytes
        memoryLimit = device.globalMemoryBytes
        quiet = device.info.type == "CPU"
        // A CPU device runs its kernels on the cores the host's worker threads would watch on.
        if quiet { WorkerPool.shared.holdQuiet() }
    }

    /// Whether this context holds the host's worker pool quiet (a CPU device).
    private let quiet: Bool

    deinit {
        clReleaseCommandQueue(queue)
        clReleaseContext(context)
        if quiet { WorkerPool.shared.releaseQuiet() }
    }

    /// Runs `body` with a place for the command's event while a profiler is set (nil otherwise),
    /// and hands the event to the profiler.
    func profiled(_ body: (UnsafeMutablePointer<cl_event?>?) throws -> Void) rethrows {
        guard let profiler else { try body(nil); return }
        var ev: cl_event?
        try body(&ev)
        profiler.record(ev)
    }

    /// Waits until every enqueued command has finished.
    func finish() throws { blockingCalls += 1; try clCheck(clFinish(queue), "clFinish") }

    /// Builds a program from source; a failed build throws with the compiler's full build log.
    func program(source: String, options: String) throws -> CLProgram {
        var err: cl_int = 0
        let program: cl_program? = source.withCString { cs in
            var ptr: UnsafePointer<CChar>? = cs
            var len = strlen(cs)
            return clCreateProgramWithSource(context, 1, &ptr, &len, &err)
        }
        guard let program, err == CL_SUCCESS else {
            throw MLDError.backend("OpenCL clCreateProgramWithSource failed: \(clErrorName(err))")
        }
        var dev = device.id
        let status = clBuildProgram(program, 1, &dev, options, nil, nil)
        if status != CL_SUCCESS {
            var size = 0
            clGetProgramBuildInfo(program, device.id, cl_program_build_info(CL_PROGRAM_BUILD_LOG), 0, nil, &size)
            var log = [CChar](repeating: 0, count: max(size, 1))
            clGetProgramBuildInfo(program, device.id, cl_program_build_info(CL_PROGRAM_BUILD_LOG), size, &log, nil)
            clReleaseProgram(program)
            throw MLDError.backend("OpenCL kernel build failed on \(device.info.name) (\(clErrorName(status))), options \(options):\n\(String(cString: log))")
        }
        return CLProgram(program: program)
    }

    /// A device buffer of `count` elements of `T`, uninitialised; `what` names it in the
    /// one-line refusal when it exceeds `allocationLimit` or the memory left under `memoryLimit`.
    func buffer<T>(_ type: T.Type, count: Int, what: String = "a buffer") throws -> CLBuffer<T> {
        let bytes = max(count, 1) * MemoryLayout<T>.stride
        let mb = { (b: Int) in String(format: "%.1f MB", Double(b) / 1_048_576) }
        if bytes > allocationLimit {
            throw MLDError.backend("OpenCL device \(device.info.name): \(what) needs \(mb(bytes)), more than the \(mb(allocationLimit)) the device allows in one buffer (CL_DEVICE_MAX_MEM_ALLOC_SIZE); use fewer atoms per device")
        }
        if allocatedBytes + bytes > memoryLimit {
            throw MLDError.backend("OpenCL device \(device.info.name): \(what) needs \(mb(bytes)) more, beyond the \(mb(memoryLimit)) of device memory (CL_DEVICE_GLOBAL_MEM_SIZE, \(mb(allocatedBytes)) already held); use fewer atoms per device")
        }
        return try CLBuffer(context: self, count: count)
    }
}

final class CLProgram {
    let program: cl_program
    /// Whether per-agent arrays are agent-major (MLD_AGENT_MAJOR, see Kernels/common.cl).
    var agentMajor = false
    init(program: cl_program) { self.program = program }
    deinit { clReleaseProgram(program) }

    func kernel(_ name: String) throws -> CLKernel {
        var err: cl_int = 0
        guard let k = clCreateKernel(program, name, &err), err == CL_SUCCESS else {
            throw MLDError.backend("OpenCL clCreateKernel(\(name)) failed: \(clErrorName(err))")
        }
        return CLKernel(kernel: k, name: name)
    }
}

/// A kernel with its arguments set one by one (`set(0, buffer)`, `set(1, Int32(n))`).
final class CLKernel {
    let kernel: cl_kernel
    let name: String
    init(kernel: cl_kernel, name: String) { self.kernel = kernel; self.name = name }
    deinit { clReleaseKernel(kernel) }

    func set<T>(_ index: Int, _ value: T) throws {
        var v = value
        try withUnsafeBytes(of: &v) { raw in
            try clCheck(clSetKernelArg(kernel, cl_uint(index), MemoryLayout<T>.size, raw.baseAddress),
                        "clSetKernelArg(\(name), \(index))")
        }
    }

    func set<T>(_ index: Int, _ buffer: CLBuffer<T>) throws {
        var m: cl_mem? = buffer.mem
        try clCheck(clSetKernelArg(kernel, cl_uint(index), MemoryLayout<cl_mem>.size, &m),
                    "clSetKernelArg(\(name), \(index))")
    }

    /// A __local array argument of `bytes` bytes.
    func setLocal(_ index: Int, bytes: Int) throws {
        try clCheck(clSetKernelArg(kernel, cl_uint(index), bytes, nil), "clSetKernelArg(\(name), \(index))")
    }

    /// Enqueues `global` work-items (rounded up to a multiple of `local`, when given).
    func enqueue(_ ctx: CLContext, global: Int, local: Int? = nil) throws {
        var l = local ?? 0
        var g = local.map { (global + $0 - 1) / $0 * $0 } ?? global
        if g == 0 { return }
        ctx.launches += 1
        try withUnsafePointer(to: &l) { lp in
            try ctx.profiled { ev in
                try clCheck(clEnqueueNDRangeKernel(ctx.queue, kernel, 1, nil, &g, local == nil ? nil : lp, 0, nil, ev),
                            "clEnqueueNDRangeKernel(\(name))")
            }
        }
    }
}

/// A device buffer of `count` elements of `T`.
final class CLBuffer<T> {
    /// Held strongly: the buffer reports its release to the context's memory count.
    let context: CLContext
    let mem: cl_mem
    let count: Int

    init(context: CLContext, count: Int) throws {
        self.context = context
        self.count = count
        var err: cl_int = 0
        let bytes = max(count, 1) * MemoryLayout<T>.stride
        guard let m = clCreateBuffer(context.context, cl_mem_flags(CL_MEM_READ_WRITE), bytes, nil, &err),
              err == CL_SUCCESS else {
            throw MLDError.backend("OpenCL clCreateBuffer(\(bytes) bytes) failed: \(clErrorName(err))")
        }
        mem = m
        context.allocatedBytes += bytes
    }
    deinit {
        clReleaseMemObject(mem)
        context.allocatedBytes -= max(count, 1) * MemoryLayout<T>.stride
    }

    var bytes: Int { count * MemoryLayout<T>.stride }

    /// Copies `values` (at most `count`) to the device; returns when the copy is done.
    func write(_ values: [T]) throws {
        precondition(values.count <= count)
        if values.isEmpty { return }
        context.blockingCalls += 1
        context.bytesUp += values.count * MemoryLayout<T>.stride
        try values.withUnsafeBytes { raw in
            try clCheck(clEnqueueWriteBuffer(context.queue, mem, cl_bool(CL_TRUE), 0, raw.count, raw.baseAddress, 0, nil, nil),
                        "clEnqueueWriteBuffer")
        }
    }

    /// Copies the first `n` elements (all by default) from the device, waiting for the queue.
    func read(into values: inout [T], count n: Int? = nil) throws {
        let n = n ?? count
        precondition(values.count >= n)
        if n == 0 { return }
        context.blockingCalls += 1
        context.bytesDown += n * MemoryLayout<T>.stride
        try values.withUnsafeMutableBytes { raw in
            try clCheck(clEnqueueReadBuffer(context.queue, mem, cl_bool(CL_TRUE), 0, n * MemoryLayout<T>.stride, raw.baseAddress, 0, nil, nil),
                        "clEnqueueReadBuffer")
        }
    }

    func read() throws -> [T] where T: ExpressibleByIntegerLiteral {
        var v = [T](repeating: 0, count: count)
        try read(into: &v)
        return v
    }
}

extension CLBuffer {
    /// Copies raw bytes (at most `bytes`) to the device; returns when the copy is done.
    func write(raw: UnsafeRawBufferPointer) throws {
        precondition(raw.count <= bytes)
        if raw.isEmpty { return }
        context.blockingCalls += 1
        context.bytesUp += raw.count
        try context.profiled { ev in
            try clCheck(clEnqueueWriteBuffer(context.queue, mem, cl_bool(CL_TRUE), 0, raw.count, raw.baseAddress, 0, nil,
                                         ev), "clEnqueueWriteBuffer")
        }
    }

    /// Copies `bytes` raw bytes from the device into `raw`, waiting for the queue.
    func read(raw: UnsafeMutableRawBufferPointer) throws {
        precondition(raw.count <= bytes)
        if raw.isEmpty { return }
        context.blockingCalls += 1
        context.bytesDown += raw.count
        try context.profiled { ev in
            try clCheck(clEnqueueReadBuffer(context.queue, mem, cl_bool(CL_TRUE), 0, raw.count, raw.baseAddress, 0, nil,
                                        ev), "clEnqueueReadBuffer")
        }
    }
}

extension CLBuffer {
    /// Enqueues a copy of raw bytes to the device at byte `offset` and returns at once. The
    /// memory must stay valid and unchanged until a later blocking call on the queue (in order)
    /// or `finish()`.
    func enqueueWrite(raw: UnsafeRawBufferPointer, offset: Int = 0) throws {
        precondition(offset + raw.count <= bytes)
        if raw.isEmpty { return }
        context.bytesUp += raw.count
        try context.profiled { ev in
            try clCheck(clEnqueueWriteBuffer(context.queue, mem, cl_bool(CL_FALSE), offset, raw.count, raw.baseAddress, 0, nil,
                                         ev), "clEnqueueWriteBuffer")
        }
    }

    /// Enqueues a copy of `raw.count` bytes from the device at byte `offset` and returns at
    /// once; the bytes are there after a later blocking call on the queue or `finish()`.
    func enqueueRead(raw: UnsafeMutableRawBufferPointer, offset: Int = 0) throws {
        precondition(offset + raw.count <= bytes)
        if raw.isEmpty { return }
        context.bytesDown += raw.count
        try context.profiled { ev in
            try clCheck(clEnqueueReadBuffer(context.queue, mem, cl_bool(CL_FALSE), offset, raw.count, raw.baseAddress, 0, nil,
                                        ev), "clEnqueueReadBuffer")
        }
    }

    /// Copies `bytes` bytes from the device at byte `offset` into `raw`, waiting for the queue.
    func read(raw: UnsafeMutableRawBufferPointer, offset: Int) throws {
        precondition(offset + raw.count <= bytes)
        if raw.isEmpty { return }
        context.blockingCalls += 1
        context.bytesDown += raw.count
        try context.profiled { ev in
            try clCheck(clEnqueueReadBuffer(context.queue, mem, cl_bool(CL_TRUE), offset, raw.count, raw.baseAddress, 0, nil,
                                        ev), "clEnqueueReadBuffer")
        }
    }

    /// Fills the buffer with zero bytes (enqueued; returns at once).
    func enqueueZero() throws {
        var zero: UInt8 = 0
        try clCheck(clEnqueueFillBuffer(context.queue, mem, &zero, 1, 0, max(count, 1) * MemoryLayout<T>.stride, 0, nil, nil),
                    "clEnqueueFillBuffer")
    }

    /// Copies this buffer's bytes into `other` on the device (enqueued; returns at once).
    func enqueueCopy(to other: CLBuffer) throws {
        precondition(other.bytes >= bytes)
        try clCheck(clEnqueueCopyBuffer(context.queue, mem, other.mem, 0, 0, max(count, 1) * MemoryLayout<T>.stride, 0, nil, nil),
                    "clEnqueueCopyBuffer")
    }
}

/// Device time per phase, from OpenCL profiling events (CL_PROFILING_COMMAND_START/END): every
/// command enqueued while the profiler is set on a context is counted under `phase`.
final class CLProfiler {
    /// The phase new commands are counted under ("upload", "neighbour list", "forces", ...).
    var phase = "other"
    private var pending: [(cl_event, String)] = []
    /// Device seconds per phase so far.
    private(set) var seconds: [String: Double] = [:]

    func record(_ event: cl_event?) {
        if let event { pending.append((event, phase)) }
    }

    /// Waits for the recorded commands and adds their device times to their phases.
    func collect() {
        for (e, p) in pending {
            var ev: cl_event? = e
            _ = clWaitForEvents(1, &ev)
            var start: cl_ulong = 0, end: cl_ulong = 0
            if clGetEventProfilingInfo(e, cl_profiling_info(CL_PROFILING_COMMAND_START), MemoryLayout<cl_ulong>.size, &start, nil) == CL_SUCCESS,
               clGetEventProfilingInfo(e, cl_profiling_info(CL_PROFILING_COMMAND_END), MemoryLayout<cl_ulong>.size, &end, nil) == CL_SUCCESS,
               end >= start {
                seconds[p, default: 0] += Double(end - start) * 1e-9
            }
            clReleaseEvent(e)
        }
        pending.removeAll(keepingCapacity: true)
    }
}
