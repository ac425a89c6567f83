import Testing
@testable import MLDOpenCL

@Suite struct DeviceInfoTests {
    @Test func listingDevicesNeverCrashes() {
        let devices = OpenCLDeviceInfo.all()
        for d in devices { #expect(!d.name.isEmpty) }
    }
}
