"""Authentication rows: sign-ins with their MFA, refreshes and sign-outs, registrations,
lockouts (five bad passwords, then an unlock and a new password), typos and guesses at
usernames that do not exist, and one credential-spraying run from a single address.

Sessions are correlated by a SHA-256 of a random value: no session key, password or raw API
key is ever written to a row.
"""

import bisect
import hashlib
from datetime import timedelta


from demo.builder import KindMaker, generates
from demo.common import (
    BROWSER_UAS, FIRST_NAMES, LAST_NAMES, OFFICE_NETS, SPRAY_IP, cum, dt, req_id,
)
from demo.factories import build_row


@generates("auth", count=3_000, extra_share=0.02)
def generate(builder):
    return AuthMaker(builder).build()


class AuthMaker(KindMaker):
    def auth_row(self, ts, event, person=None, username=None, ip=None, ua=None, result="success",
                 failure_reason="", session=None, provider=None, actor=None):
        rng = self.rng
        if ts >= self.clock.t_end:
            return None
        values = dict(occurred_at=dt(ts), event=event, result=result,
                      failure_reason=failure_reason, request_id=req_id(rng))
        values["ingested_at"] = values["occurred_at"] + timedelta(milliseconds=rng.randint(5, 500))
        if person is not None:
            values.update(user_id=str(person.user.pk), username_attempted=person.user.username,
                          actor_type="user", actor_id=str(person.user.pk),
                          actor_name=person.user.username, ip=ip or person.office_ip,
                          user_agent=ua or person.browser_ua,
                          identity_provider=provider or person.idp)
        else:
            values.update(username_attempted=username or "", actor_type="user", ip=ip,
                          user_agent=ua or "", identity_provider=provider or "password")
        if actor is not None:  # who performed it, when not the user themself
            values.update(actor_type=actor[0], actor_id=actor[1], actor_name=actor[2])
        if session:
            values["session_key_hash"] = session
        row = build_row("auth", **values)
        self.rows.append(row)
        return row

    def new_session(self):
        return hashlib.sha256(f"demo-session:{self.rng.getrandbits(128)}".encode()).hexdigest()

    def login_session(self, person, ts):
        """A sign-in with optional failures and MFA, refreshes and a logout."""
        rng = self.rng
        if not person.user.is_active:
            self.auth_row(ts, "login.failed", person, result="failure", failure_reason="inactive")
            return
        provider = person.idp if rng.random() < 0.9 else "password"
        if provider == "password" and rng.random() < 0.08:
            self.auth_row(ts, "login.failed", person, result="failure",
                          failure_reason="bad_password", provider=provider)
            ts += rng.uniform(5, 40)
        if person.mfa:
            self.auth_row(ts, "mfa.challenged", person, provider=provider)
            ts += rng.uniform(4, 30)
            if rng.random() < 0.04:
                self.auth_row(ts, "login.failed", person, result="failure",
                              failure_reason="mfa_failed", provider=provider)
                return
            self.auth_row(ts, "mfa.succeeded", person, provider=provider)
            ts += 0.3
        session = self.new_session()
        self.auth_row(ts, "login.succeeded", person, session=session, provider=provider)
        for _ in range(rng.choice((0, 0, 1, 1, 2, 3, 4))):
            ts += rng.uniform(900, 3600)
            if ts >= self.clock.t_end:
                return
            self.auth_row(ts, "token.refreshed", person, session=session, provider=provider)
        if rng.random() < 0.6:
            ts += rng.uniform(300, 7200)
            if ts < self.clock.t_end:
                self.auth_row(ts, "logout", person, session=session, provider=provider)

    def build(self):
        rng = self.rng
        clock = self.clock
        target = self.counts["auth"]
        t0 = clock.t0
        admin = self.by_username["admin"]
        support = self.by_username["support"]
        # Registrations inside the window.
        for person in self.people:
            joined = person.user.date_joined.timestamp()
            if joined >= t0:
                self.auth_row(joined, "register", person, provider=person.idp)
                if person.idp == "password":
                    self.auth_row(joined + rng.uniform(60, 3600), "email.verified", person)
                self.login_session(person, joined + rng.uniform(3700, 7200))
        # Lockouts: runs of bad passwords for three users, then unlock and a new password.
        members = [p for p in self.people if not p.user.is_staff and p.user.is_active]
        for person in rng.sample(members, 3):
            ts = clock.sample(rng, person.tz)
            ip = person.office_ip if rng.random() < 0.5 else f"198.51.100.{rng.randrange(2, 250)}"
            for _ in range(5):
                self.auth_row(ts, "login.failed", person, ip=ip, result="failure",
                              failure_reason="bad_password", provider="password")
                ts += rng.uniform(3, 25)
            self.auth_row(ts + 0.2, "account.locked", person, ip=ip, provider="password",
                          actor=("system", "lockout", "lockout policy"))
            for _ in range(rng.randint(1, 2)):
                ts += rng.uniform(30, 300)
                self.auth_row(ts, "login.failed", person, ip=ip, result="failure",
                              failure_reason="locked", provider="password")
            ts += rng.uniform(1800, 7200)
            unlocker = rng.choice([admin, support])
            self.auth_row(ts, "account.unlocked", person, ip=unlocker.office_ip,
                          ua=unlocker.browser_ua, provider="password",
                          actor=("user", str(unlocker.user.pk), unlocker.user.email))
            ts += rng.uniform(120, 900)
            self.auth_row(ts, "password.changed", person, provider="password",
                          session=self.new_session())
            self.login_session(person, ts + 5)
        # Typos and guesses for usernames that do not exist.
        guesses = ["root", "test", "admin1", "administrator", "oracle", "guest", "user",
                   "jdoe@example.com", "alice.chne", "bruno.muller", "support1", "finance-team"]
        for _ in range(60):
            ts = clock.uniform(rng)
            self.auth_row(ts, "login.failed", username=rng.choice(guesses),
                          ip=f"{rng.choice(OFFICE_NETS)}{rng.randrange(2, 254)}",
                          ua=rng.choice(BROWSER_UAS + ["python-requests/2.32.3"]),
                          result="failure", failure_reason="unknown_user")
        # Credential spraying: one address tries one password against many accounts.
        ts = t0 + 12.35 * 86400
        spray_ua = "python-requests/2.31.0"
        names = [p.user.username for p in self.people] + [
            f"{f}.{l}" for f in rng.sample(FIRST_NAMES, 12) for l in rng.sample(LAST_NAMES, 5)]
        for name in rng.sample(names, min(140, len(names))):
            ts += rng.uniform(0.5, 4)
            person = self.by_username.get(name)
            if person is not None:
                self.auth_row(ts, "login.failed", person, ip=SPRAY_IP, ua=spray_ua,
                              result="failure", failure_reason="bad_password", provider="password")
            else:
                self.auth_row(ts, "login.failed", username=name, ip=SPRAY_IP, ua=spray_ua,
                              result="failure", failure_reason="unknown_user")
        # Ordinary sessions until the target: staff sign in daily, others now and then.
        weights = [3.0 if p.user.is_staff else 0.6 + p.weight for p in self.people]
        totals = cum(weights)
        while len(self.rows) < target:
            person = self.people[bisect.bisect(totals, rng.random() * totals[-1])]
            ts = clock.sample(rng, person.tz)
            if person.user.date_joined.timestamp() > ts:
                continue
            if rng.random() < 0.02 and person.user.is_active:
                self.auth_row(ts, "password.changed", person, session=self.new_session())
                continue
            self.login_session(person, ts)
        del self.rows[target:]
        return self.rows
