"""Teacher VLM back ends behind one seam (teachers.base.Teacher)."""
