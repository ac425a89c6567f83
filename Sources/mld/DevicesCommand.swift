import ArgumentParser
import Foundation
import MLD
import MLDOpenCL

struct DevicesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices",
        abstract: "List OpenCL platforms and devices.",
        discussion: "Example: mld devices --json")

    @OptionGroup var global: GlobalOptions

    func run() throws {
        let devices = OpenCLDeviceInfo.all()
        if global.json { try printJSON(devices); return }
        if devices.isEmpty {
            print("No OpenCL platform or device found (install an OpenCL driver, e.g. pocl-opencl-icd); the cpu backend is available.")
            return
        }
        for (i, d) in devices.enumerated() {
            let mem = Double(d.globalMemoryBytes) / 1_073_741_824
            print(String(format: "[%d] %@ | %@ | %@ | %d compute units | %.1f GiB | fp64 %@",
                         i, d.platform, d.name, d.type, d.computeUnits, mem, d.fp64 ? "yes" : "no"))
        }
    }
}
