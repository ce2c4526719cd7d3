"""Users and user roles of one division (the users themselves are the world's, see ``World``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from exactsql.sandbox import datagen_pools as P
from exactsql.sandbox.datagen_base import MS_PER_DAY, Table, day_ms, moment_ms, pool
from exactsql.sandbox.datagen_master import mobiles

if TYPE_CHECKING:
    from exactsql.sandbox.datagen import DivisionData


class Users(Table):
    """users/Users of a division: the world's users with access to it (rows 0..k-1 are users 0..k-1)."""

    entity = "users/Users"
    key = "UserID"

    def __init__(self, div: DivisionData) -> None:
        super().__init__(div)
        self.n = div.n_users
        self.cols = {name: div.world.user_column(name) for name in div.world.user_columns()}

    def extend(self, count: int) -> range:
        return range(self.n, self.n)  # users are world-wide; a division cannot grow its own

    def changed_values(self, idx: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {
            "Mobile": mobiles(int(rng.integers(1 << 62)), idx),
            "LastLogin": (self.div.cal.ref_day - rng.integers(0, 30, len(idx))) * MS_PER_DAY + 9 * 3_600_000,
        }


class Roles:
    """The role rows of a division, shared by users/UserRoles and users/UserRolesPerDivision."""

    def __init__(self, div: DivisionData) -> None:
        rng = np.random.default_rng(div.rng_salt("roles"))
        self.ref = ref = div.cal.ref_day
        k = div.n_users
        others = [r for r in range(len(P.ROLES)) if P.ROLES[r][0] != P.ROLE_MANAGE_SUBSCRIPTIONS]
        subs = next(r for r in range(len(P.ROLES)) if P.ROLES[r][0] == P.ROLE_MANAGE_SUBSCRIPTIONS)
        # 274 per user: 0 active without end, 1 ended in the past, 2 ends in the future, 3 none.
        cat = rng.choice([0, 3, 3, 1], size=k)
        cat[0] = 0
        perm = rng.permutation(np.arange(1, k))
        for c, u in zip((1, 2, 3), perm[:3], strict=False):
            cat[u] = c
        users: list[int] = []
        roles: list[int] = []
        starts: list[int] = []
        ends: list[int] = []
        for u in range(k):
            ustart = int(div.world.user_start_day[u])
            pick = others if u else others[:6]
            chosen = sorted(
                rng.choice(pick, size=min(len(pick), int(rng.integers(2, 7))), replace=False).tolist()
            )
            if cat[u] != 3:
                chosen.append(subs)
            for r in sorted(chosen, key=lambda r: P.ROLES[r][0]):
                start = ustart + int(rng.integers(0, 120))
                end = -1
                if r == subs and cat[u] == 1:
                    end = ref - int(rng.integers(30, 500))
                    start = min(start, end - 60)
                elif r == subs and cat[u] == 2:
                    end = ref + int(rng.integers(2000, 3600))
                elif r != subs and rng.random() < 0.1:
                    end = ref - int(rng.integers(10, 300))
                    start = min(start, end - 60)
                users.append(u)
                roles.append(r)
                starts.append(start)
                ends.append(end)
        self.user = np.array(users, dtype=np.int64)
        self.role = np.array(roles, dtype=np.int64)
        self.start = np.array(starts, dtype=np.int64)
        self.end = np.array(ends, dtype=np.int64)
        self.subscription_category = cat

    def extend(self, rng: np.random.Generator, count: int, n_users: int) -> None:
        others = [r for r in range(len(P.ROLES)) if P.ROLES[r][0] != P.ROLE_MANAGE_SUBSCRIPTIONS]
        self.user = np.concatenate([self.user, rng.integers(0, n_users, count)])
        self.role = np.concatenate([self.role, rng.choice(others, count)])
        self.start = np.concatenate([self.start, self.ref - rng.integers(0, 20, count)])
        self.end = np.concatenate([self.end, np.full(count, -1)])


class UserRoles(Table):
    entity = "users/UserRoles"

    def __init__(self, div: DivisionData, roles: Roles) -> None:
        super().__init__(div)
        self.roles = roles
        w = div.world
        c = self.cols
        c["UserID"] = lambda i: np.take(w.user_guids, roles.user[i])
        c["Role"] = lambda i: np.array([r[0] for r in P.ROLES], dtype=np.int64)[roles.role[i]]
        c["RoleLevel"] = lambda i: np.array([r[2] for r in P.ROLES], dtype=np.int64)[roles.role[i]]
        c["Description"] = lambda i: np.take(pool(r[1] for r in P.ROLES), roles.role[i])
        c["StartDate"] = lambda i: day_ms(roles.start[i])
        c["EndDate"] = lambda i: day_ms(roles.end[i])
        c["Created"] = lambda i: moment_ms(self.s("created"), i, roles.start[i])
        c["Modified"] = lambda i: np.where(
            (roles.end[i] >= 0) & (roles.end[i] <= div.cal.ref_day),
            moment_ms(self.s("modified"), i, roles.end[i]),
            moment_ms(self.s("created"), i, roles.start[i]),
        )
        c["Creator"] = c["Modifier"] = lambda i: np.take(w.user_guids, np.zeros(len(i), np.int64))
        c["CreatorFullName"] = c["ModifierFullName"] = lambda i: np.take(
            w.user_full_names, np.zeros(len(i), np.int64)
        )

    def count(self) -> int:
        return len(self.roles.user)

    def extend(self, count: int) -> range:
        start = self.count()
        if count > 0:
            rng = np.random.default_rng(self.div.rng_salt("roles-extend", start))
            self.roles.extend(rng, count, self.div.n_users)
        return range(start, self.count())

    def changed_values(self, idx: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        start = self.roles.start[idx]
        end = np.maximum(self.div.cal.ref_day - rng.integers(0, 60, len(idx)), start + 1)
        return {"EndDate": day_ms(end)}


class UserRolesPerDivision(UserRoles):
    entity = "users/UserRolesPerDivision"
    salt_entity = "users/UserRoles"
