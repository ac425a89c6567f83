/// A small count as a type, for code generic over it: each count gets its own specialisation in
/// which the count is a constant, so loops over it unroll into straight-line code and its values
/// can stay in registers. `AngularLanes` is generic over the highest rank of the moment tensors,
/// `QuadraticLoss` over the SIMD4 per row of W. `DynamicCount` (nil) leaves the count to run time.
protocol StaticCount { static var value: Int? { get } }
enum Count1: StaticCount { static var value: Int? { 1 } }
enum Count2: StaticCount { static var value: Int? { 2 } }
enum Count3: StaticCount { static var value: Int? { 3 } }
enum Count4: StaticCount { static var value: Int? { 4 } }
enum Count5: StaticCount { static var value: Int? { 5 } }
enum Count6: StaticCount { static var value: Int? { 6 } }
enum Count7: StaticCount { static var value: Int? { 7 } }
enum Count8: StaticCount { static var value: Int? { 8 } }
enum DynamicCount: StaticCount { static var value: Int? { nil } }
