import COpenCL
import MLD
import Foundation

/// One OpenCL device as `mld devices` lists it.
public struct OpenCLDeviceInfo: Codable, Sendable {
    public var platform: String
    public var name: String
    /// "GPU", "CPU", "accelerator" or "other".
    public var type: String
    public var computeUnits: Int
    /// Global memory in bytes.
    public var globalMemoryBytes: UInt64
    /// Whether the device offers double precision (cl_khr_fp64).
    public var fp64: Bool
    public var driverVersion: String

    /// Every device of every platform; empty when there is no OpenCL platform.
    public static func all() -> [OpenCLDeviceInfo] {
        var n: cl_uint = 0
        guard clGetPlatformIDs(0, nil, &n) == CL_SUCCESS, n > 0 else { return [] }
        var platforms = [cl_platform_id?](repeating: nil, count: Int(n))
        guard clGetPlatformIDs(n, &platforms, nil) == CL_SUCCESS else { return [] }
        var out: [OpenCLDeviceInfo] = []
        for p in platforms {
            let pname = platformString(p, cl_platform_info(CL_PLATFORM_NAME))
            var nd: cl_uint = 0
            guard clGetDeviceIDs(p, cl_device_type(CL_DEVICE_TYPE_ALL), 0, nil, &nd) == CL_SUCCESS, nd > 0 else { continue }
            var devices = [cl_device_id?](repeating: nil, count: Int(nd))
            guard clGetDeviceIDs(p, cl_device_type(CL_DEVICE_TYPE_ALL), nd, &devices, nil) == CL_SUCCESS else { continue }
            for d in devices {
                let type: cl_device_type = deviceValue(d, cl_device_info(CL_DEVICE_TYPE))
                let typeName = type & cl_device_type(CL_DEVICE_TYPE_GPU) != 0 ? "GPU"
                    : type & cl_device_type(CL_DEVICE_TYPE_CPU) != 0 ? "CPU"
                    : type & cl_device_type(CL_DEVICE_TYPE_ACCELERATOR) != 0 ? "accelerator" : "other"
                let cu: cl_uint = deviceValue(d, cl_device_info(CL_DEVICE_MAX_COMPUTE_UNITS))
                let mem: cl_ulong = deviceValue(d, cl_device_info(CL_DEVICE_GLOBAL_MEM_SIZE))
                let fp64: cl_device_fp_config = deviceValue(d, cl_device_info(CL_DEVICE_DOUBLE_FP_CONFIG))
                out.append(OpenCLDeviceInfo(
                    platform: pname, name: deviceString(d, cl_device_info(CL_DEVICE_NAME)), type: typeName,
                    computeUnits: Int(cu), globalMemoryBytes: UInt64(mem), fp64: fp64 != 0,
                    driverVersion: deviceString(d, cl_device_info(CL_DRIVER_VERSION))))
            }
        }
        return out
    }
}

func platformString(_ p: cl_platform_id?, _ what: cl_platform_info) -> String {
    var size = 0
    guard clGetPlatformInfo(p, what, 0, nil, &size) == CL_SUCCESS, size > 0 else { return "" }
    var buf = [CChar](repeating: 0, count: size)
    guard clGetPlatformInfo(p, what, size, &buf, nil) == CL_SUCCESS else { return "" }
    return String(cString: buf).trimmingCharacters(in: .whitespaces)
}

func deviceString(_ d: cl_device_id?, _ what: cl_device_info) -> String {
    var size = 0
    guard clGetDeviceInfo(d, what, 0, nil, &size) == CL_SUCCESS, size > 0 else { return "" }
    var buf = [CChar](repeating: 0, count: size)
    guard clGetDeviceInfo(d, what, size, &buf, nil) == CL_SUCCESS else { return "" }
    return String(cString: buf).trimmingCharacters(in: .whitespaces)
}

func deviceValue<T: FixedWidthInteger>(_ d: cl_device_id?, _ what: cl_device_info) -> T {
    var v: T = 0
    _ = clGetDeviceInfo(d, what, MemoryLayout<T>.size, &v, nil)
    return v
}
