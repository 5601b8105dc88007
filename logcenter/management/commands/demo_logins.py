from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Print the console URL and the demo sign-ins created by seed_demo."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000/")

    def handle(self, *args, url, **options):
        from logcenter.demo import DEMO_LOGINS

        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Logcenter is starting at {url}"))
        self.stdout.write("Sign in with one of the demo accounts:")
        for username, password, role in DEMO_LOGINS:
            self.stdout.write(f"  {username:<10} password: {password:<22} {role}")
        self.stdout.write("")
