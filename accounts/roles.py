"""The console's roles: Django groups with permissions, kept in step after every migrate.

A role's permissions on the log kinds come from the registry: the Administrator holds every
permission of every kind, and each kind's `grants` say what the other roles may do with it
(logcenter.core.registry). Nothing here names a kind. Administrators may edit the groups
afterwards (Django admin); `sync_roles` only adds what a role is missing, so it never undoes
such an edit. (The data migration that first made the groups, accounts 0002, keeps its own
list: a migration runs the same whatever the code becomes.)
"""

from django.utils.translation import pgettext_lazy

ADMINISTRATOR = "Administrator"
# The roles, and their permissions outside the log kinds.
ROLE_NAMES = ("Administrator", "Auditor", "Support", "Finance", "Member")
CONSOLE_PERMISSIONS = {
    ADMINISTRATOR: [
        "accounts.view_user", "accounts.add_user", "accounts.change_user",
        "accounts.view_apikey", "accounts.add_apikey", "accounts.change_apikey",
        "accounts.add_ingest_apikey",
        "auth.view_group", "auth.change_group", "auth.add_group",
        "logcenter.view_retentionpolicy", "logcenter.change_retentionpolicy",
        "logcenter.add_deletionjob", "logcenter.view_deletionjob",
        "accounts.unlock_user",
        # Organizations, their projects and members, and the plans (accounts.organizations).
        "accounts.view_organization", "accounts.add_organization",
        "accounts.change_organization", "accounts.view_project", "accounts.add_project",
        "accounts.change_project", "accounts.view_membership", "accounts.add_membership",
        "accounts.change_membership", "accounts.delete_membership", "accounts.view_plan",
        "accounts.change_plan",
        # Log stream destinations (logcenter.streams).
        "logcenter.view_destination", "logcenter.add_destination",
        "logcenter.change_destination", "logcenter.delete_destination",
    ],
    # Support answers "why can't this person sign in", and lifts the lockout.
    "Support": ["accounts.unlock_user"],
}
DEFAULT_ROLE = "Member"
# What the console shows for a role: the group's name (stored, English) stays the key; any
# other group shows its own name (role_label).
ROLE_LABELS = {
    "Administrator": pgettext_lazy("role", "Administrator"),
    "Auditor": pgettext_lazy("role", "Auditor"),
    "Support": pgettext_lazy("role", "Support"),
    "Finance": pgettext_lazy("role", "Finance"),
    "Member": pgettext_lazy("role", "Member"),
}


def role_label(group):
    """A role (a Group or its name) as the console shows it: the product's roles translated,
    any other group by its own name."""
    name = getattr(group, "name", group)
    return ROLE_LABELS.get(name, name)


def user_role_labels(user):
    """The user's roles, translated, in name order (one query)."""
    if not getattr(user, "is_authenticated", False):
        return []
    return [role_label(name) for name in
            user.groups.order_by("name").values_list("name", flat=True)]


def role_permissions():
    """{role: ["app_label.codename", …]}: each role's permissions as the registry says now."""
    from logcenter.core.registry import registry

    roles = {role: [] for role in ROLE_NAMES}
    for kind in registry:
        unknown = set(kind.grants) - (set(ROLE_NAMES) - {ADMINISTRATOR})
        if unknown:  # the Administrator has every permission already
            raise ValueError(f"{kind.slug}: grants to roles {sorted(unknown)}")
        roles[ADMINISTRATOR] += [kind.perm(action) for action in kind.actions]
        for role, actions in kind.grants.items():
            roles[role] += [kind.perm(action) for action in actions]
    for role, perms in CONSOLE_PERMISSIONS.items():
        roles[role] += perms
    return roles


def sync_roles():
    """Create the role groups and grant any permission they lack."""
    from django.contrib.auth.models import Group, Permission

    for role, perms in role_permissions().items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = []
        for perm in perms:
            app_label, codename = perm.split(".")
            found = Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if found is not None:
                wanted.append(found)
        group.permissions.add(*wanted)
