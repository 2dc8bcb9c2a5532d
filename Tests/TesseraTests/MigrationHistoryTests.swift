import Crypto
import Foundation
import Testing

@testable import Tessera

/// Migrations are history: a database that applied one never sees it again, so editing a
/// released migration would leave old and new databases different. Each migration's rendered SQL,
/// for both engines, is held to the fingerprint it was released with; a change belongs in a new
/// migration, whose fingerprint is added here.
@Suite("Migration history")
struct MigrationHistoryTests {
    static let released: [Int: String] = [
        1: "ac110fb3fcd7c732cb8e12db802028e96b9ee4c42d1f1c751c6f09748f6faf02",
        2: "224dcb2c56ff76457435d4feec54e09ed19eb83c97755ac0c386b49dddb2cf2b",
        3: "385bf460559086ff751f92f1d2d6bca2180cbc4279e45cc0d8560ef0e4e2cbfa",
        4: "2713798d62df1bb3b5d972c842d1ede58e592f1570341db3fe64d110ebe3851d",
        5: "a6097ecfe255c02955165e5683eef12958dde37ed7336ec8279b40e12510ef16",
        6: "d6bee116c850ba889bd1ede457d9121d1d93c592bd6f81d016a0cfb4b8eb5ec9",
        7: "c36a188a7337811df51ba7a01354cc1e09060b34d458021b2c30348033ca3716",
        8: "4b91ae00043a285c5eb275a01ab319d6ac00e1b5784af00ba536c23de87fb1f5",
    ]

    static func fingerprint(_ migration: Migration) -> String {
        let text = [SQLDialect.sqlite, .postgres].map { dialect in
            "-- \(dialect.rawValue)\n" + migration.sql(dialect).joined(separator: "\n;\n")
        }.joined(separator: "\n")
        return SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    @Test("every released migration renders exactly the SQL it was released with")
    func releasedMigrationsAreUnchanged() {
        let versions = Migration.all.map(\.version)
        #expect(versions == Array(1...versions.count), "versions run 1, 2, 3 … without gaps: \(versions)")
        for migration in Migration.all {
            let actual = Self.fingerprint(migration)
            #expect(
                Self.released[migration.version] == actual,
                "migration \(migration.version) (\(migration.name)) renders \(actual): an applied migration was edited, or a new one has no fingerprint here yet"
            )
        }
    }
}
