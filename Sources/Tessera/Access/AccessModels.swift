import Foundation
import Hummingbird
import SQLKit

/// Resources and actions: the two name lists permissions are made of. They share one shape and
/// one implementation; `table` is also the RBAC resource that guards their endpoints.
enum RBACList: String, Sendable, CaseIterable {
    case resources
    case actions

    var singular: String { self == .resources ? "resource" : "action" }
}

struct RBACEntry: ResponseEncodable, Sendable {
    let id: String
    let code_name: String
    let name: String
    let description: String
    let built_in: Bool

    static let columns = ["id", "code_name", "name", "description", "built_in"]

    init(_ role: RoleEntry) {
        (id, code_name, name, description, built_in) = (role.id, role.code_name, role.name, role.description, role.built_in)
    }

    init(row: any SQLRow) throws {
        id = try row.decode(column: "id", as: UUID.self).uuidString.lowercased()
        code_name = try row.decode(column: "code_name", as: String.self)
        name = try row.decode(column: "name", as: String.self)
        description = try row.decode(column: "description", as: String.self)
        built_in = try row.decode(column: "built_in", as: Bool.self)
    }
}

/// `POST`/`PATCH` body of a resource, an action or a role (roles add `permissions`).
struct RBACChange: Decodable, Sendable {
    var code_name: String?
    var name: String?
    var description: String?
    var permissions: [String]?
}

struct PermissionEntry: ResponseEncodable, Sendable {
    let id: String
    let resource: String
    let action: String

    init(row: any SQLRow) throws {
        id = try row.decode(column: "id", as: UUID.self).uuidString.lowercased()
        resource = try row.decode(column: "resource", as: String.self)
        action = try row.decode(column: "action", as: String.self)
    }

    var key: PermissionKey { PermissionKey(resource, action) }
}

struct PermissionChange: Decodable, Sendable {
    var resource: String?
    var action: String?
}

struct RoleEntry: ResponseEncodable, Sendable {
    let id: String
    let code_name: String
    let name: String
    let description: String
    let built_in: Bool
    let permissions: [String]

    init(_ entry: RBACEntry, permissions: [String]) {
        (id, code_name, name, description, built_in) = (entry.id, entry.code_name, entry.name, entry.description, entry.built_in)
        self.permissions = permissions
    }
}

struct RoleAssignment: Decodable, Sendable {
    var roles: [String]
}

/// `^[a-z][a-z0-9_.-]{0,63}$`: code names appear in tokens, URLs and checks from other services.
func isCodeName(_ text: String) -> Bool {
    guard let first = text.first, first.isASCII, first.isLowercase, text.count <= 64 else { return false }
    return text.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || "_.-".contains($0)) }
}
