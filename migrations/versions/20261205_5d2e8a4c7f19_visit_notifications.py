"""A notification tells an applicant of a site visit the county office scheduled (its day and expert).

Revision ID: 5d2e8a4c7f19
Revises: c3f8a1e6d2b9
Create Date: 2026-12-06 09:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '5d2e8a4c7f19'
down_revision = 'c3f8a1e6d2b9'
branch_labels = None
depends_on = None

BEFORE = ('task', 'returned', 'decision', 'outcome', 'overdue', 'message', 'term_reminder', 'term_expired',
          'interim_expired')
KINDS = BEFORE + ('visit',)


def upgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_notifications_notification_kind'), type_='check')
        batch_op.create_check_constraint('notification_kind', f"kind IN {KINDS}")


def downgrade() -> None:
    op.execute("DELETE FROM outbox_messages WHERE notification_id IN "
               "(SELECT id FROM notifications WHERE kind = 'visit')")
    op.execute("DELETE FROM notifications WHERE kind = 'visit'")
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_notifications_notification_kind'), type_='check')
        batch_op.create_check_constraint('notification_kind', f"kind IN {BEFORE}")
