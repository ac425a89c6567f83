import Testing
@testable import MLDOpenCL

@Suite struct DeviceInfoTests {
    @Test func listingDevicesNeverCrashes() {
        let devices = OpenCLDeviceInfo.all()
        // Where OpenCL is required (make test), an empty listing is a failure, not a pass.
        if openCLRequired { #expect(!devices.isEmpty, "no OpenCL device listed") }
        for d in devices { #expect(!d.name.isEmpty) }
    }
}
