import Testing
@testable import Tessera
