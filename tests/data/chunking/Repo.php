<?php

namespace App\Repo;

use App\Models\User;

/**
 * Loads users from the database.
 */
class UserRepo extends BaseRepo
{
    private array $cache = [];

    public function find(int $id): ?User
    {
        return $this->cache[$id] ?? null;
    }

    public function save(User $user): void
    {
        $this->cache[$user->id] = $user;
    }
}

function helper(string $s): string
{
    return trim($s);
}
