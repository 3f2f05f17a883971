"""Checkpoints carry an RFC 3161 time-stamp token from HQ's TSA over their note text.

Checkpoints signed before this keep none (they stay verifiable by their signatures).

Revision ID: 5e2b7c9d1a36
Revises: c0a5e1f7b2d4
Create Date: 2026-12-04 16:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5e2b7c9d1a36'
down_revision = 'c0a5e1f7b2d4'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('log_checkpoints', schema=None) as batch_op:
        batch_op.add_column(sa.Column('timestamp', sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('log_checkpoints', schema=None) as batch_op:
        batch_op.drop_column('timestamp')
