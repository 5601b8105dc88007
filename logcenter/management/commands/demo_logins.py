from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Print the console URL and the demo sign-ins created by seed_demo."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000/")

    def handle(self, *args, url, **options):
        from accounts.models import User
        from demo import DEMO_LOGINS, DEMO_USER_COUNT, DEMO_USER_PASSWORD

        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Logcenter is starting at {url}"))
        self.stdout.write("Sign in with one of the demo accounts:")
        for username, password, role in DEMO_LOGINS:
            self.stdout.write(f"  {username:<10} password: {password:<22} {role}")
        example = User.objects.filter(username__contains=".").order_by("username").first()
        self.stdout.write(f"  …and {DEMO_USER_COUNT} platform users such as "
                          f"{example.username if example else 'alice.rossi'}, password "
                          f"{DEMO_USER_PASSWORD}")
        self.stdout.write("")
