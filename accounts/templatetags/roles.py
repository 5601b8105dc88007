"""{% load roles %}: roles (Django groups) shown by their translated labels."""

from django import template
from django.utils.translation import pgettext

from accounts import selectors
from accounts.roles import role_label, user_role_labels

register = template.Library()


@register.filter(name="role_label")
def role_label_filter(group):
    """A Group (or its name) as the console shows it: Administrator → 管理员 in Chinese."""
    return role_label(group)


@register.simple_tag
def user_roles(user):
    """The user's roles, translated, joined by the language's list separator."""
    return pgettext("list separator", ", ").join(str(label) for label in user_role_labels(user))


@register.simple_tag
def readable_organization(user):
    """The organization whose page the user may open (My organization), or None."""
    return selectors.readable_organization(user)
