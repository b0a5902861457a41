import type { Request } from "./http";

export interface User {
  id: number;
  name: string;
}

export type UserId = User["id"];

export enum Role {
  Admin,
  Reader,
}

/** Fetches users from the API. */
export class UserClient {
  constructor(private readonly baseUrl: string) {}

  async get(id: UserId): Promise<User> {
    const res = await fetch(`${this.baseUrl}/users/${id}`);
    return res.json();
  }

  list(): Promise<User[]> {
    return fetch(this.baseUrl).then((r) => r.json());
  }
}

export namespace Util {
  export function slug(s: string): string {
    return s.toLowerCase();
  }
}

export const isAdmin = (u: User & { role: Role }): boolean => u.role === Role.Admin;
